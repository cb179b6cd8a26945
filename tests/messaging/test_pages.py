"""The messaging pages: the inbox with unread badges, a conversation (its messages escaped, the
form to write, reading it clears the badge), and an administrator's metadata-only view."""

from __future__ import annotations

import re

from tests.factories.messaging import Talk
from tests.factories.web import Browser, csrf

HTML = {"accept": "text/html"}


async def test_write_read_and_clear_the_badge(talk: Talk, browser: Browser) -> None:
    patient = await browser(talk.people["patient"].user)
    doctor = await browser(talk.people["doctor"].user)
    page = await patient.get(f"/conversations/{talk.id}", headers=HTML)
    assert page.status_code == 200, page.text
    client_id = re.search(r'name="client_id" value="([^"]+)"', page.text)
    assert client_id is not None
    form = {"csrf_token": csrf(page), "client_id": client_id.group(1), "text": "<b>It hurts</b>"}
    sent = await patient.post(f"/conversations/{talk.id}/messages", data=form, headers=HTML)
    assert (sent.status_code, sent.headers["location"]) == (303, f"/conversations/{talk.id}#latest")
    again = await patient.post(f"/conversations/{talk.id}/messages", data=form, headers=HTML)
    assert again.status_code == 303  # the same form twice: one message
    blank = await patient.post(
        f"/conversations/{talk.id}/messages", data={**form, "client_id": "", "text": "  "}
    )
    assert blank.status_code == 422
    assert "Message" in blank.text

    inbox = await doctor.get("/conversations", headers=HTML)
    assert 'aria-label="1 unread"' in inbox.text
    opened = await doctor.get(f"/conversations/{talk.id}", headers=HTML)
    assert "&lt;b&gt;It hurts&lt;/b&gt;" in opened.text
    assert "<b>It hurts</b>" not in opened.text
    assert opened.text.count('<li id="message-') == 1
    cleared = await doctor.get("/conversations", headers=HTML)
    assert 'aria-label="0 unread" hidden' in cleared.text


async def test_admins_see_who_not_what(talk: Talk, browser: Browser) -> None:
    await talk.sent("patient", "zq-private-page-words")
    admin = await browser(talk.people["admin"].user)
    page = await admin.get(f"/conversations/{talk.id}", headers=HTML)
    assert page.status_code == 200, page.text
    assert 'id="metadata-only"' in page.text
    assert "zq-private-page-words" not in page.text
    stranger = await browser(talk.people["other_patient"].user)
    refused = await stranger.get(f"/conversations/{talk.id}", headers=HTML)
    assert refused.status_code == 404


async def test_the_appointment_page_links_to_its_conversation(talk: Talk, browser: Browser) -> None:
    about = await talk.client.get(talk.url, headers=talk.people["patient"].headers)
    appointment_id = about.json()["appointment_id"]
    patient = await browser(talk.people["patient"].user)
    page = await patient.get(f"/appointments/{appointment_id}", headers=HTML)
    assert f'href="/conversations/{talk.id}"' in page.text


async def test_a_patient_messages_a_doctor_they_have_seen_from_the_doctors_page(
    talk: Talk, browser: Browser
) -> None:
    doctor_id = talk.people["doctor"].user.id
    patient = await browser(talk.people["patient"].user)
    page = await patient.get(f"/doctors/{doctor_id}", headers=HTML)
    assert 'id="message-doctor"' in page.text
    opened = await patient.post(
        "/conversations", data={"csrf_token": csrf(page), "doctor_id": str(doctor_id)}
    )
    assert opened.status_code == 303, opened.text
    thread = await patient.get(opened.headers["location"].split("#")[0], headers=HTML)
    assert thread.status_code == 200
    assert "Care thread" in thread.text
    stranger = await browser(talk.people["other_patient"].user)
    unseen = await stranger.get(f"/doctors/{doctor_id}", headers=HTML)
    assert 'id="message-doctor"' not in unseen.text


async def test_older_messages_and_seen(talk: Talk, browser: Browser) -> None:
    for n in range(1, 56):
        await talk.sent("patient", f"Line {n}")
    read = await talk.client.post(
        f"{talk.url}/read", json={"seq": 54}, headers=talk.people["doctor"].headers
    )
    assert read.status_code == 200
    patient = await browser(talk.people["patient"].user)
    latest = await patient.get(f"/conversations/{talk.id}", headers=HTML)
    assert latest.text.count('<li id="message-') == 50
    assert 'id="message-6"' in latest.text
    assert 'id="message-5"' not in latest.text
    assert latest.text.count("· seen") == 49  # 6..54 of the 6..55 shown
    assert f'href="/conversations/{talk.id}?before_seq=6"' in latest.text
    older = await patient.get(f"/conversations/{talk.id}?before_seq=6", headers=HTML)
    assert older.text.count('<li id="message-') == 5
    assert 'data-live="off"' in older.text
