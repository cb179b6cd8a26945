"""The conversation page's files and older messages, under the browser's session: files sent
with the page's form (refused ones shown on the page, nothing stored), saved and shown as
thumbnails through page routes that answer members only (404 for anyone else, administrators
included, as the API does), with the API's headers and audit rows; the older messages a page
inserts as its reader scrolls up; the menu's unread count.

Here rather than in tests/web/: they use the ``talk`` conversation of tests/messaging/conftest.py,
as the other messaging page tests (test_pages.py) do."""

from __future__ import annotations

import io
import re
import uuid

import httpx
from PIL import Image
from sqlalchemy import select, update

from carebridge.compliance.models import AuditEvent
from carebridge.config import Settings
from carebridge.messaging.attachment_models import Attachment
from carebridge.platform.db import Database
from tests.factories import files as make
from tests.factories.messaging import Talk, rows, stored
from tests.factories.web import Browser, form_token

HTML = {"accept": "text/html"}
NOT_MEMBERS = ("other_patient", "other_doctor", "nurse", "admin")
File = tuple[str, bytes, str]


async def post_files(
    browser: httpx.AsyncClient, talk: Talk, files: list[File], text: str = ""
) -> httpx.Response:
    """The conversation page's form, as a browser sends it (multipart)."""
    page = await browser.get(f"/conversations/{talk.id}", headers=HTML)
    client_id = re.search(r'name="client_id" value="([^"]+)"', page.text)
    form = {
        "csrf_token": await form_token(browser),
        "client_id": client_id.group(1) if client_id else str(uuid.uuid4()),  # a stranger's
        "text": text,
    }
    return await browser.post(
        f"/conversations/{talk.id}/messages",
        data=form,
        files=[("files", item) for item in files],
        headers=HTML,
    )


async def audited(database: Database, attachment_id: str, action: str) -> list[uuid.UUID | None]:
    async with database.transaction() as db:
        found = await db.scalars(
            select(AuditEvent.actor_id).where(
                AuditEvent.resource_id == attachment_id, AuditEvent.action == action
            )
        )
        return list(found)


async def test_a_photo_sent_with_the_form_is_shown_saved_and_audited(
    talk: Talk, browser: Browser, database: Database
) -> None:
    patient = await browser(talk.people["patient"].user)
    photo = make.jpeg(640, 480, gps=True)
    sent = await post_files(patient, talk, [("rash.jpg", photo, "image/jpeg")], "My arm")
    assert (sent.status_code, sent.headers["location"]) == (303, f"/conversations/{talk.id}#latest")
    message = (await talk.messages("doctor")).json()["items"][0]
    assert message["text"] == "My arm"
    (attachment,) = message["attachments"]
    file_id = attachment["id"]

    doctor = await browser(talk.people["doctor"].user)
    page = await doctor.get(f"/conversations/{talk.id}", headers=HTML)
    assert f'<a href="/attachments/{file_id}" download' in page.text
    assert f'<img src="/attachments/{file_id}/thumbnail" alt="" width="640"' in page.text
    assert ">rash.jpg</span>" in page.text
    assert attachment["size"] > 1000
    assert " kB</small>" in page.text  # its size, in words

    saved = await doctor.get(f"/attachments/{file_id}")
    assert saved.status_code == 200
    assert saved.headers["content-disposition"] == 'attachment; filename="rash.jpg"'
    assert saved.headers["x-content-type-options"] == "nosniff"
    assert saved.headers["content-type"] == "image/jpeg"
    assert not Image.open(io.BytesIO(saved.content)).getexif()  # the position is gone
    thumbnail = await doctor.get(f"/attachments/{file_id}/thumbnail")
    assert thumbnail.status_code == 200
    assert thumbnail.headers["content-type"] == "image/webp"
    assert thumbnail.headers["content-disposition"].startswith("attachment; ")
    doctor_id = talk.people["doctor"].user.id
    assert await audited(database, file_id, "attachment.downloaded") == [doctor_id]
    assert await audited(database, file_id, "attachment.thumbnail_downloaded") == [doctor_id]


async def test_only_members_reach_the_files_and_the_older_messages(
    talk: Talk, browser: Browser, database: Database
) -> None:
    for n in range(3):
        await talk.sent("patient", f"Line {n}")
    patient = await browser(talk.people["patient"].user)
    assert (await post_files(patient, talk, [("n.txt", make.text(), "text/plain")])).is_redirect
    file_id = (await talk.messages("patient")).json()["items"][-1]["attachments"][0]["id"]
    for who in NOT_MEMBERS:
        other = await browser(talk.people[who].user)
        for url in (
            f"/attachments/{file_id}",
            f"/attachments/{file_id}/thumbnail",
            f"/conversations/{talk.id}/older?before_seq=3",
        ):
            answer = await other.get(url)
            assert answer.status_code == 404, (who, url)
            assert answer.headers["content-type"].startswith("text/html")
            assert "Line" not in answer.text
        if who != "admin":  # an administrator's page has no form (tests/test_authorization_...)
            refused = await post_files(other, talk, [("x.txt", make.text(), "text/plain")])
            assert refused.status_code == 404, who
    assert await audited(database, file_id, "attachment.downloaded") == []
    assert await rows(database, talk) == (4, 1)
    missing = await patient.get(f"/attachments/{uuid.uuid4()}")
    assert missing.status_code == 404
    no_thumbnail = await patient.get(f"/attachments/{file_id}/thumbnail")  # a text file
    assert no_thumbnail.status_code == 404


async def test_a_refused_file_is_explained_on_the_page_and_nothing_is_stored(
    talk: Talk, browser: Browser, database: Database, settings: Settings
) -> None:
    patient = await browser(talk.people["patient"].user)
    before = stored(settings)
    page = await post_files(
        patient,
        talk,
        [("fine.png", make.png(), "image/png"), ("photo.png", make.html(), "image/png")],
        "Kept text",
    )
    assert page.status_code == 422
    assert page.headers["content-type"].startswith("text/html")
    assert 'id="message-error"' in page.text
    assert "photo.png: " in page.text
    assert ">Kept text</textarea>" in page.text  # the words are given back
    six = [(f"n{i}.txt", make.text(), "text/plain") for i in range(6)]
    too_many = await post_files(patient, talk, six)
    assert too_many.status_code == 422
    assert "At most 5 files" in too_many.text
    empty = await post_files(patient, talk, [("empty.txt", b"", "text/plain")])
    assert empty.status_code == 422
    assert await rows(database, talk) == (0, 0)
    assert stored(settings) == before


async def test_a_file_being_checked_has_no_link(
    talk: Talk, browser: Browser, database: Database
) -> None:
    patient = await browser(talk.people["patient"].user)
    assert (await post_files(patient, talk, [("r.pdf", make.pdf(), "application/pdf")])).is_redirect
    async with database.transaction() as db:
        await db.execute(update(Attachment).values(scan_state="pending"))
    file_id = (await talk.messages("patient")).json()["items"][0]["attachments"][0]["id"]
    page = await patient.get(f"/conversations/{talk.id}", headers=HTML)
    assert "being checked" in page.text
    assert f'href="/attachments/{file_id}"' not in page.text
    early = await patient.get(f"/attachments/{file_id}")
    assert early.status_code == 409
    assert early.headers["content-type"].startswith("text/html")
    assert "being checked for viruses" in early.text


async def test_older_messages_come_as_the_items_of_a_list(
    talk: Talk, browser: Browser, database: Database
) -> None:
    for n in range(1, 56):
        await talk.sent("patient", f"Line {n}")
    doctor = await browser(talk.people["doctor"].user)
    latest = await doctor.get(f"/conversations/{talk.id}", headers=HTML)
    assert f'data-src="/conversations/{talk.id}/older"' in latest.text
    assert ">Show older messages</a>" in latest.text
    older = await doctor.get(f"/conversations/{talk.id}/older", params={"before_seq": 6})
    assert older.status_code == 200
    assert older.text.lstrip().startswith("<ol")  # a fragment, not a page
    assert 'data-more="false"' in older.text
    assert re.findall(r'<li id="message-(\d+)"', older.text) == ["1", "2", "3", "4", "5"]
    async with database.transaction() as db:
        reads = await db.scalars(
            select(AuditEvent.details).where(
                AuditEvent.actor_id == talk.people["doctor"].user.id,
                AuditEvent.action == "messages.read",
            )
        )
        ranges = [(c.get("first_seq"), c.get("last_seq")) for c in reads]
    assert (1, 5) in ranges
    more = await doctor.get(f"/conversations/{talk.id}/older", params={"before_seq": 55})
    assert 'data-more="true"' in more.text
    for bad in ("0", "x", "-3", str(2**31)):
        answer = await doctor.get(f"/conversations/{talk.id}/older", params={"before_seq": bad})
        assert answer.status_code == 422, bad
        assert answer.headers["content-type"].startswith("text/html")


async def test_the_menu_counts_unread_messages(talk: Talk, browser: Browser) -> None:
    doctor = await browser(talk.people["doctor"].user)
    assert (await doctor.get("/conversations/unread")).text == "0"
    home = await doctor.get("/home", headers=HTML)
    assert 'id="messages-unread"' in home.text
    await talk.sent("patient", "Hello")
    await talk.sent("patient", "Are you there?")
    assert (await doctor.get("/conversations/unread")).text == "2"
    await doctor.get(f"/conversations/{talk.id}", headers=HTML)  # opening it reads them
    assert (await doctor.get("/conversations/unread")).text == "0"
