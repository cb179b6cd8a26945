"""Attachments through the API: files sent with a message are judged by their content, refused
whole (nothing stored) when one is wrong, cleaned of their metadata, sealed in storage, served
to members only, after the malware scan allows it, and every download is audited."""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from PIL import ExifTags, Image
from sqlalchemy import func, select

from carebridge.app import create_app
from carebridge.compliance.models import AuditEvent
from carebridge.config import Settings
from carebridge.messaging import scanning, tasks
from carebridge.messaging.attachment_models import Attachment
from carebridge.platform.db import Database
from carebridge.platform.events import listen
from carebridge.platform.jobs import job_app
from tests.factories import files as make
from tests.factories.apps import work
from tests.factories.clamd import CLAMD, EICAR, ClamdPeer, real_clamd
from tests.factories.messaging import Talk, heard, rows, stored

MiB = 1024 * 1024
File = tuple[str, bytes, str]


async def send_files(
    talk: Talk, who: str, files: list[File], text: str = "", client_id: str | None = None
) -> httpx.Response:
    data = {"client_id": client_id or str(uuid.uuid4())}
    if text:
        data["text"] = text
    return await talk.client.post(
        f"{talk.url}/attachments",
        data=data,
        files=[("files", item) for item in files],
        headers=talk.people[who].headers,
    )


async def sent_files(talk: Talk, who: str, files: list[File], text: str = "") -> dict[str, Any]:
    answer = await send_files(talk, who, files, text)
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def download(talk: Talk, who: str, attachment_id: str, part: str = "") -> httpx.Response:
    return await talk.client.get(
        f"/api/v1/attachments/{attachment_id}{part}", headers=talk.people[who].headers
    )


REFUSED: list[tuple[str, File, int, str]] = [
    ("png named pdf", ("scan.pdf", make.png(), "application/pdf"), 422, "attachment_name_mismatch"),
    ("html named png", ("photo.png", make.html(), "image/png"), 422, "attachment_type_not_allowed"),
    (
        "jpeg with a script",
        ("photo.jpg", make.jpeg() + b"<script>alert(1)</script>", "image/jpeg"),
        422,
        "attachment_polyglot",
    ),
    ("png bomb", ("bomb.png", make.png_bomb(), "image/png"), 422, "attachment_too_many_pixels"),
    ("empty", ("empty.txt", b"", "text/plain"), 422, "attachment_empty"),
    ("11 MiB", ("big.txt", b"a" * (11 * MiB), "text/plain"), 413, "attachment_too_large"),
]


class TestSending:
    @pytest.mark.parametrize(
        ("file", "status", "code"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED]
    )
    async def test_a_refused_file_stores_nothing(
        self,
        talk: Talk,
        database: Database,
        settings: Settings,
        file: File,
        status: int,
        code: str,
    ) -> None:
        before, files_before = await rows(database, talk), stored(settings)
        # Alone, and beside an acceptable file: the whole message is refused either way.
        for files in ([file], [("fine.png", make.png(), "image/png"), file]):
            answer = await send_files(talk, "patient", files, text="Here it is")
            assert answer.status_code == status, answer.text
            problem = answer.json()
            assert problem["code"] == code
            assert problem["file"] == len(files) - 1
            assert problem["detail"].startswith(f"{file[0]}: ")
        assert await rows(database, talk) == before
        assert stored(settings) == files_before

    async def test_at_most_five_files(self, talk: Talk, database: Database) -> None:
        six = [(f"n{i}.txt", make.text(f"note {i}"), "text/plain") for i in range(6)]
        answer = await send_files(talk, "patient", six)
        assert answer.status_code == 422
        assert answer.json()["code"] == "too_many_attachments"
        assert await rows(database, talk) == (0, 0)
        five = await sent_files(talk, "patient", six[:5])
        assert [a["filename"] for a in five["attachments"]] == [f"n{i}.txt" for i in range(5)]

    async def test_a_jpeg_comes_back_without_its_gps_position(self, talk: Talk) -> None:
        original = make.jpeg(640, 480, gps=True)
        assert Image.open(io.BytesIO(original)).getexif().get_ifd(ExifTags.IFD.GPSInfo)
        message = await sent_files(talk, "patient", [("rash.jpg", original, "image/jpeg")])
        (attachment,) = message["attachments"]
        assert attachment["media_type"] == "image/jpeg"
        assert (attachment["width"], attachment["height"]) == (640, 480)
        assert attachment["has_thumbnail"]
        assert attachment["downloadable"]
        answer = await download(talk, "doctor", attachment["id"])
        assert answer.status_code == 200
        kept = Image.open(io.BytesIO(answer.content))
        assert kept.format == "JPEG"
        assert not kept.getexif()
        assert not kept.getexif().get_ifd(ExifTags.IFD.GPSInfo)
        thumbnail = await download(talk, "doctor", attachment["id"], "/thumbnail")
        assert thumbnail.status_code == 200
        assert thumbnail.headers["content-type"] == "image/webp"
        small = Image.open(io.BytesIO(thumbnail.content))
        assert max(small.size) == 320
        assert not small.getexif()

    async def test_a_canary_text_is_sealed_in_storage(self, talk: Talk, settings: Settings) -> None:
        message = await sent_files(
            talk, "patient", [("notes.txt", make.text(), "text/plain")], text="My notes"
        )
        canary = make.CANARY.encode()
        assert all(canary not in data for data in stored(settings).values())
        key = f"attachments/{talk.id}/{message['attachments'][0]['id']}"
        assert key in stored(settings)  # it is there, sealed
        answer = await download(talk, "doctor", message["attachments"][0]["id"])
        assert canary in answer.content

    async def test_the_message_lists_its_files_and_a_retry_stores_them_once(
        self, talk: Talk, database: Database
    ) -> None:
        client_id = str(uuid.uuid4())
        files = [("a.pdf", make.pdf(), "application/pdf"), ("b.png", make.png(), "image/png")]
        first = await send_files(talk, "patient", files, "Results", client_id)
        assert first.status_code == 201, first.text
        again = await send_files(talk, "patient", files, "Results", client_id)
        assert again.status_code == 200
        assert again.json()["attachments"] == first.json()["attachments"]
        assert await rows(database, talk) == (1, 2)
        page = (await talk.messages("doctor")).json()
        assert page["items"][0]["text"] == "Results"
        assert [a["filename"] for a in page["items"][0]["attachments"]] == ["a.pdf", "b.png"]
        assert page["items"][0]["attachments"][0]["has_thumbnail"] is False

    async def test_the_live_event_carries_the_files(self, talk: Talk) -> None:
        heard: list[tuple[str, str, dict[str, Any]]] = []

        async def listener(topic: str, event: str, data: dict[str, Any], seq: int | None) -> None:
            heard.append((topic, event, data))

        stop = listen(listener)
        try:
            message = await sent_files(talk, "patient", [("p.png", make.png(), "image/png")])
        finally:
            stop()
        created = [
            d for t, e, d in heard if t == f"conversation.{talk.id}" and e == "message.created"
        ]
        assert [d["attachments"] for d in created] == [message["attachments"]]
        assert created[0]["attachments"][0]["filename"] == "p.png"

    async def test_files_alone_make_a_message(self, talk: Talk) -> None:
        message = await sent_files(talk, "doctor", [("r.pdf", make.pdf(), "application/pdf")])
        assert message["text"] == ""
        assert message["state"] == "ok"

    async def test_a_deleted_message_takes_its_files(
        self, talk: Talk, database: Database, settings: Settings
    ) -> None:
        message = await sent_files(talk, "patient", [("p.png", make.png(), "image/png")], "x")
        attachment_id = message["attachments"][0]["id"]
        assert any(attachment_id in path for path in stored(settings))
        deleted = await talk.client.delete(
            f"{talk.url}/messages/{message['id']}", headers=talk.people["patient"].headers
        )
        assert deleted.status_code == 200, deleted.text
        assert deleted.json()["attachments"] == []
        assert (await download(talk, "doctor", attachment_id)).status_code == 404
        assert not any(attachment_id in path for path in stored(settings))
        assert await rows(database, talk) == (1, 0)

    async def test_nothing_is_stored_in_a_closed_conversation(
        self, talk: Talk, database: Database, settings: Settings
    ) -> None:
        closed = await talk.client.post(f"{talk.url}/close", headers=talk.people["doctor"].headers)
        assert closed.status_code == 200, closed.text
        files_before = stored(settings)
        answer = await send_files(talk, "patient", [("p.png", make.png(), "image/png")], "x")
        assert answer.status_code == 409
        assert answer.json()["code"] == "conversation_closed"
        assert await rows(database, talk) == (0, 0)
        assert stored(settings) == files_before


class TestWhoDownloads:
    async def test_only_members_and_every_download_is_audited(
        self, talk: Talk, database: Database
    ) -> None:
        message = await sent_files(talk, "patient", [("p.png", make.png(), "image/png")], "x")
        attachment_id = message["attachments"][0]["id"]
        for who in ("other_patient", "other_doctor", "nurse", "admin"):
            for part in ("", "/thumbnail"):
                answer = await download(talk, who, attachment_id, part)
                assert answer.status_code == 404, (who, part)
                assert answer.json()["code"] == "attachment_not_found"
            refused = await send_files(talk, who, [("n.txt", make.text(), "text/plain")])
            assert refused.status_code == 404, who
        assert (await download(talk, "patient", str(uuid.uuid4()))).status_code == 404
        answer = await download(talk, "doctor", attachment_id)
        assert answer.status_code == 200
        assert answer.headers["content-disposition"] == 'attachment; filename="p.png"'
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["content-type"] == "image/png"
        async with database.transaction() as db:
            audited = (
                await db.scalars(
                    select(AuditEvent).where(
                        AuditEvent.resource_id == attachment_id,
                        AuditEvent.action == "attachment.downloaded",
                    )
                )
            ).all()
        assert [(a.actor_id, a.outcome) for a in audited] == [
            (talk.people["doctor"].user.id, "success")
        ]

    async def test_a_hostile_name_downloads_under_a_safe_one(self, talk: Talk) -> None:
        name = '../../etc/"evil";\u202egpj.exe.txt'
        message = await sent_files(talk, "patient", [(name, make.text(), "text/plain")])
        answer = await download(talk, "doctor", message["attachments"][0]["id"])
        disposition = answer.headers["content-disposition"]
        assert disposition.startswith("attachment; filename=")
        assert "/" not in disposition
        assert "\u202e" not in disposition
        assert disposition.count('"') == 2


@pytest.fixture
async def clamd() -> AsyncIterator[ClamdPeer]:
    peer = ClamdPeer()
    yield peer
    await peer.close()


class TestScan:
    """With ``CAREBRIDGE_CLAMD_URL`` set: nothing is served before clamd said it is clean."""

    @pytest.fixture
    async def clamd_settings(self, settings: Settings, clamd: ClamdPeer) -> Settings:
        return settings.model_copy(update={"clamd_url": await clamd.start_tcp()})

    @pytest.fixture
    def app(self, clamd_settings: Settings, database: Database) -> FastAPI:
        return create_app(clamd_settings, database=database)

    @pytest.fixture(autouse=True)
    async def jobs_emptied(self, client: httpx.AsyncClient) -> AsyncIterator[None]:
        yield
        await job_app.connector.execute_query_async(
            "DELETE FROM procrastinate_jobs WHERE queue_name = 'messaging'"
        )

    async def test_not_served_before_the_scan_then_clean(
        self, talk: Talk, clamd_settings: Settings, database: Database, clamd: ClamdPeer
    ) -> None:
        message = await sent_files(talk, "patient", [("p.pdf", make.pdf(), "application/pdf")])
        attachment = message["attachments"][0]
        assert (attachment["scan_state"], attachment["downloadable"]) == ("pending", False)
        early = await download(talk, "doctor", attachment["id"])
        assert early.status_code == 409
        assert early.json()["code"] == "attachment_scan_pending"
        assert early.headers["retry-after"]
        with heard(f"conversation.{talk.id}") as events:
            await work(clamd_settings, database, queue="messaging")
        (scanned,) = clamd.streams  # the file as stored (a PDF is kept as sent)
        (told,) = [data for event, data in events if event == "attachment.scanned"]
        assert (told["id"], told["message_id"]) == (attachment["id"], message["id"])
        assert (told["scan_state"], told["downloadable"]) == ("clean", True)
        assert scanned.startswith(b"%PDF-")
        answer = await download(talk, "doctor", attachment["id"])
        assert answer.status_code == 200
        page = (await talk.messages("doctor")).json()
        assert page["items"][0]["attachments"][0]["scan_state"] == "clean"

    async def test_eicar_is_never_served(
        self,
        talk: Talk,
        clamd_settings: Settings,
        settings: Settings,
        database: Database,
        clamd: ClamdPeer,
    ) -> None:
        message = await sent_files(talk, "patient", [("eicar.txt", EICAR, "text/plain")])
        attachment_id = message["attachments"][0]["id"]
        with heard(f"conversation.{talk.id}") as events:
            await work(clamd_settings, database, queue="messaging")
        assert clamd.streams == [EICAR]
        told = [data for event, data in events if event == "attachment.scanned"]
        assert [(d["id"], d["scan_state"], d["downloadable"]) for d in told] == [
            (attachment_id, "infected", False)
        ]
        answer = await download(talk, "doctor", attachment_id)
        assert answer.status_code == 409
        assert answer.json()["code"] == "attachment_infected"
        assert EICAR not in answer.content
        assert not any(attachment_id in path for path in stored(settings))
        async with database.transaction() as db:
            row = await db.get_one(Attachment, uuid.UUID(attachment_id))
            audited = await db.scalar(
                select(func.count()).where(
                    AuditEvent.resource_id == attachment_id,
                    AuditEvent.action == "attachment.infected",
                )
            )
        assert (row.scan_state, row.signature) == ("infected", "Eicar-Test-Signature")
        assert audited == 1

    async def test_a_scan_clamd_cannot_answer_stays_pending_and_is_swept(
        self, talk: Talk, clamd_settings: Settings, database: Database, clamd: ClamdPeer
    ) -> None:
        clamd.behaviour = "garbage"
        message = await sent_files(talk, "patient", [("n.txt", make.text(), "text/plain")])
        attachment_id = uuid.UUID(message["attachments"][0]["id"])
        with pytest.raises(scanning.ScanFailed):
            await scanning.scan(database, clamd_settings, attachment_id)
        assert (await download(talk, "doctor", str(attachment_id))).status_code == 409
        assert attachment_id in await scanning.pending_scans(database, older_than=timedelta(0))
        assert attachment_id not in await scanning.pending_scans(
            database, older_than=tasks.SWEEP_AFTER
        )
        assert not await tasks.defer_scan(attachment_id)  # its job is queued already
        clamd.behaviour = "scan"
        assert await scanning.scan(database, clamd_settings, attachment_id) == "clean"
        assert (await download(talk, "doctor", str(attachment_id))).status_code == 200


@pytest.mark.skipif(not CLAMD.exists(), reason="clamd is not installed (.ci/run installs it)")
async def test_a_real_clamd_blocks_eicar(
    talk: Talk, settings: Settings, database: Database, tmp_path: Path
) -> None:
    message = await sent_files(talk, "patient", [("eicar.txt", EICAR, "text/plain")])
    attachment_id = uuid.UUID(message["attachments"][0]["id"])
    async with database.transaction() as db:  # sent while clamd was not configured: now it is
        row = await db.get_one(Attachment, attachment_id)
        row.scan_state = "pending"
    with real_clamd(tmp_path) as address:
        real = settings.model_copy(update={"clamd_url": address})
        assert await scanning.scan(database, real, attachment_id) == "infected"
    answer = await download(talk, "doctor", str(attachment_id))
    assert answer.status_code == 409
    assert answer.json()["code"] == "attachment_infected"
