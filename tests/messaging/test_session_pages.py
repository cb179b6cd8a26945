"""The session panel of an appointment's conversation page: the patient waits for the doctor,
the doctor starts and completes the chat consultation there (a form with the CSRF token, for
the appointment's doctor only, refused with the reason when too early), the panel answers alone
for the page's script, and the appointment page of a chat links to its conversation."""

from __future__ import annotations

import re

import httpx

from tests.factories.messaging import Talk
from tests.factories.scheduling import next_weekday
from tests.factories.web import Browser, csrf

HTML = {"accept": "text/html"}


async def _page(browser: httpx.AsyncClient, talk: Talk) -> httpx.Response:
    page = await browser.get(f"/conversations/{talk.id}", headers=HTML)
    assert page.status_code == 200, page.text
    return page


async def _press(
    browser: httpx.AsyncClient, talk: Talk, move: str, token: str | None = None
) -> httpx.Response:
    if token is None:
        token = csrf(await _page(browser, talk))
    return await browser.post(
        f"/conversations/{talk.id}/consultation",
        data={"csrf_token": token, "move": move},
        headers=HTML,
    )


async def test_the_doctor_starts_and_completes_the_chat_from_its_conversation(
    chat: Talk, browser: Browser
) -> None:
    patient = await browser(chat.people["patient"].user)
    doctor = await browser(chat.people["doctor"].user)
    waiting = await _page(patient, chat)
    assert "Waiting for the doctor to start" in waiting.text
    assert 'id="start-consultation"' not in waiting.text
    assert "js/session.js" in waiting.text
    before = await _page(doctor, chat)
    assert 'id="start-consultation"' in before.text
    assert 'id="complete-consultation"' not in before.text

    started = await _press(doctor, chat, "start")
    assert (started.status_code, started.headers["location"]) == (
        303,
        f"/conversations/{chat.id}#session",
    )
    running = await _page(patient, chat)
    assert "In progress" in running.text
    assert 'id="time-left" data-ends-at="' in running.text
    assert 'id="message-form"' in running.text
    during = await _page(doctor, chat)
    assert 'id="complete-consultation"' in during.text
    assert 'id="start-consultation"' not in during.text

    completed = await _press(doctor, chat, "complete")
    assert completed.status_code == 303, completed.text
    after = await _page(patient, chat)
    assert re.search(r'id="session-status">\s*Completed', after.text)
    assert 'id="message-form"' not in after.text
    assert 'id="read-only"' in after.text


async def test_the_panel_answers_alone_for_the_pages_script(chat: Talk, browser: Browser) -> None:
    patient = await browser(chat.people["patient"].user)
    panel = await patient.get(f"/conversations/{chat.id}/session")
    assert panel.status_code == 200, panel.text
    assert panel.headers["content-type"].startswith("text/html")
    assert panel.text.strip().startswith('<section class="session-panel" id="session"')
    assert "<html" not in panel.text
    assert "js/session.js" not in panel.text
    stranger = await browser(chat.people["other_patient"].user)
    assert (await stranger.get(f"/conversations/{chat.id}/session")).status_code == 404


async def test_only_the_appointments_doctor_may_press_with_the_form_token(
    chat: Talk, browser: Browser
) -> None:
    doctor = await browser(chat.people["doctor"].user)
    token = csrf(await _page(doctor, chat))
    no_token = await doctor.post(
        f"/conversations/{chat.id}/consultation", data={"move": "start"}, headers=HTML
    )
    assert no_token.status_code == 403
    patient = await browser(chat.people["patient"].user)
    as_patient = await _press(patient, chat, "start")
    assert as_patient.status_code == 403
    other = await browser(chat.people["other_doctor"].user)
    as_other = await _press(other, chat, "start", csrf(await other.get("/conversations")))
    assert as_other.status_code == 404
    unknown = await _press(doctor, chat, "cancel", token)
    assert unknown.status_code == 422
    assert 'id="session-error"' in unknown.text
    unstarted = await _press(doctor, chat, "complete", token)
    assert unstarted.status_code == 409
    assert "cannot be completed now" in unstarted.text
    waiting = await _page(patient, chat)
    assert "Waiting for the doctor to start" in waiting.text  # nothing changed


async def test_too_early_is_said_on_the_page(
    chat: Talk, browser: Browser, client: httpx.AsyncClient
) -> None:
    later = await client.post(
        "/api/v1/appointments",
        json={
            "doctor_id": str(chat.people["doctor"].user.id),
            "starts_at": f"{next_weekday(2).isoformat()}T10:00:00+00:00",
            "type": "chat",
        },
        headers=chat.people["other_patient"].headers,
    )
    assert later.status_code == 201, later.text
    found = await client.get("/api/v1/conversations", headers=chat.people["other_patient"].headers)
    [conversation] = [c for c in found.json()["items"] if c["appointment_id"] == later.json()["id"]]
    early = Talk(client, conversation["id"], chat.people, later.json()["id"])
    doctor = await browser(chat.people["doctor"].user)
    page = await _page(doctor, early)
    assert 'id="start-consultation"' not in page.text
    assert 'id="start-from"' in page.text
    refused = await _press(doctor, early, "start", csrf(page))
    assert refused.status_code == 409
    assert 'id="session-error"' in refused.text
    assert "The consultation can start from" in refused.text


async def test_a_chat_appointments_page_opens_its_consultation(
    chat: Talk, talk: Talk, browser: Browser
) -> None:
    patient = await browser(chat.people["patient"].user)
    page = await patient.get(f"/appointments/{chat.appointment_id}", headers=HTML)
    assert page.status_code == 200, page.text
    assert f'href="/conversations/{chat.id}" role="button" id="chat-consultation-link"' in page.text
    assert "Open the chat consultation" in page.text
    video = await (await browser(talk.people["patient"].user)).get(
        f"/appointments/{talk.appointment_id}", headers=HTML
    )
    assert "Open the chat consultation" not in video.text
    assert 'id="message-link"' in video.text
