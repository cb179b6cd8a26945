"""SMS through a local HTTP server implementing the Twilio Messages endpoint."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from carebridge.accounts.models import User
from carebridge.config import Settings
from carebridge.notifications.kinds import Kind, register_kind
from carebridge.notifications.models import Channel, Delivery, DeliveryStatus
from carebridge.notifications.service import notify
from carebridge.platform.db import Database
from carebridge.platform.sms import fit, twilio_signature
from tests.factories import MakeUser, wait_until, work

SID, TOKEN = "AC0123456789abcdef", "twilio-test-token"
REMINDER = register_kind(
    Kind(
        "test_sms_reminder",
        "Test reminders by SMS",
        defaults=frozenset({Channel.in_app, Channel.sms}),
    )
)


class Messages:
    def __init__(self) -> None:
        self.requests: list[dict[str, object]] = []
        self.replies: list[int] = []


@pytest.fixture
def provider() -> Iterator[tuple[Messages, str]]:
    state = Messages()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            state.requests.append(
                {"path": self.path, "auth": self.headers["Authorization"], "form": form}
            )
            status = state.replies.pop(0) if state.replies else 201
            body = (
                {"sid": f"SM{uuid.uuid4().hex}", "status": "queued"}
                if status == 201
                else {"code": 21211, "message": "Invalid 'To' Phone Number"}
            )
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def sms_settings(settings: Settings, provider: tuple[Messages, str]) -> Settings:
    return settings.model_copy(
        update={
            "sms_transport": "twilio",
            "twilio_base_url": provider[1],
            "twilio_account_sid": SID,
            "twilio_auth_token": SecretStr(TOKEN),
            "twilio_from": "+14155550000",
            "notification_retry_base_seconds": 0.3,
            "notification_retry_cap_seconds": 0.5,
        }
    )


async def with_phone(database: Database, make_user: MakeUser, phone: str = "+14155552671") -> User:
    user = await make_user()
    async with database.transaction() as db:
        row = await db.get(User, user.id)
        assert row is not None
        row.phone = phone
    return user


async def sms_row(database: Database, notification_id: uuid.UUID) -> Delivery:
    async with database.sessionmaker() as db:
        row = await db.scalar(
            select(Delivery).where(
                Delivery.notification_id == notification_id, Delivery.channel == Channel.sms
            )
        )
        assert row is not None
        return row


async def test_sms_is_posted_with_basic_auth_and_a_status_callback(
    database: Database,
    make_user: MakeUser,
    sms_settings: Settings,
    provider: tuple[Messages, str],
    jobs: None,
) -> None:
    state, _ = provider
    user = await with_phone(database, make_user)
    async with database.transaction() as db:
        nid = await notify(
            db,
            user.id,
            REMINDER.name,
            "Visit tomorrow",
            "Dr Rivera at 9:00",
            link="/appointments/1",
        )
    assert nid is not None
    await work(sms_settings, database)
    (request,) = state.requests
    assert request["path"] == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert request["auth"] == "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    form = request["form"]
    assert isinstance(form, dict)
    assert (form["To"], form["From"]) == ("+14155552671", "+14155550000")
    assert form["Body"].startswith("CareBridge: Visit tomorrow. Dr Rivera at 9:00")
    assert form["Body"].endswith(f"{sms_settings.public_base_url}/appointments/1")
    assert form["StatusCallback"] == f"{sms_settings.public_base_url}/api/v1/webhooks/sms/status"
    row = await sms_row(database, nid)
    assert row.status == DeliveryStatus.sent
    assert (row.provider_message_id or "").startswith("SM")


async def test_a_provider_error_is_retried_but_an_invalid_number_is_not(
    database: Database,
    make_user: MakeUser,
    sms_settings: Settings,
    provider: tuple[Messages, str],
    jobs: None,
) -> None:

    state, _ = provider
    user = await with_phone(database, make_user)
    state.replies = [500]
    async with database.transaction() as db:
        nid = await notify(db, user.id, REMINDER.name, "A", "B")
    assert nid is not None
    await work(sms_settings, database)
    row = await sms_row(database, nid)
    assert (row.status, row.attempts) == (DeliveryStatus.failed, 1)
    assert row.next_attempt_at is not None
    await wait_until(row.next_attempt_at)
    await work(sms_settings, database)
    assert (await sms_row(database, nid)).status == DeliveryStatus.sent

    state.replies = [400]
    async with database.transaction() as db:
        bad = await notify(db, user.id, REMINDER.name, "C", "D")
    assert bad is not None
    await work(sms_settings, database)
    dead = await sms_row(database, bad)
    assert (dead.status, dead.attempts) == (DeliveryStatus.dead, 1)
    assert "400" in (dead.last_error or "")
    assert len(state.requests) == 3


async def test_status_callbacks_must_be_signed(
    client: httpx.AsyncClient,
    database: Database,
    make_user: MakeUser,
    sms_settings: Settings,
    provider: tuple[Messages, str],
    jobs: None,
    app: object,
) -> None:
    app.state.runtime.settings = sms_settings  # type: ignore[attr-defined]
    user = await with_phone(database, make_user)
    async with database.transaction() as db:
        nid = await notify(db, user.id, REMINDER.name, "A", "B")
    assert nid is not None
    await work(sms_settings, database)
    sid = (await sms_row(database, nid)).provider_message_id
    assert sid is not None
    form = {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "30003"}
    url = f"{sms_settings.public_base_url}/api/v1/webhooks/sms/status"
    forged = await client.post(
        "/api/v1/webhooks/sms/status",
        data=form,
        headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"},
    )
    assert (forged.status_code, forged.json()["code"]) == (403, "bad_signature")
    assert (await sms_row(database, nid)).status == DeliveryStatus.sent
    signed = await client.post(
        "/api/v1/webhooks/sms/status",
        data=form,
        headers={"X-Twilio-Signature": twilio_signature(TOKEN, url, form)},
    )
    assert signed.status_code == 204
    row = await sms_row(database, nid)
    assert (row.status, row.last_error) == (DeliveryStatus.dead, "provider: undelivered 30003")


def test_sms_text_fits_its_segments() -> None:
    assert fit("short", 1) == "short"
    long_gsm = "a" * 400
    assert len(fit(long_gsm, 1)) == 160
    assert len(fit(long_gsm, 2)) == 306
    unicode_text = "é" * 50 + "漢" * 100
    assert len(fit(unicode_text, 1)) == 70
    assert fit(unicode_text, 1).endswith("...")
