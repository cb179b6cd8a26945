"""Email verification, password reset and email change, through the real job worker and the
development mail transport (and a real SMTP server for the SMTP transport)."""

from __future__ import annotations

import asyncio
import email
import re
import socket
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message as MessageHandler

from carebridge.config import Settings
from carebridge.platform.db import Database
from carebridge.platform.mail import SmtpTransport, compose
from tests.factories import PASSWORD, MakeUser, SignIn, work

NEW_PASSWORD = "harbor-cinnamon-glacier-58"


def mailbox(settings: Settings, to: str) -> list[Message]:
    outbox = settings.data_dir / "outbox"
    files = sorted(outbox.glob("*.eml")) if outbox.exists() else []
    messages = [email.message_from_bytes(path.read_bytes()) for path in files]
    return [m for m in messages if m["To"] == to]


def link_in(message: Message, path: str) -> str:
    text = next(
        part.get_payload(decode=True).decode()  # type: ignore[union-attr]
        for part in message.walk()
        if part.get_content_type() == "text/plain"
    )
    match = re.search(rf"http\S+{path}\?token=([\w-]+)", text)
    assert match, text
    return match.group(1)


async def test_sign_up_sends_a_verification_link_that_works_once(
    client: httpx.AsyncClient, settings: Settings, database: Database, jobs: None
) -> None:
    address = "verify.me@example.org"
    response = await client.post(
        "/api/v1/auth/register", json={"email": address, "password": PASSWORD, "name": "Vera"}
    )
    assert response.status_code == 201
    assert mailbox(settings, address) == []  # sent by a job, not by the request
    await work(settings, database)
    (message,) = mailbox(settings, address)
    assert message["Subject"] == "Confirm your email address"
    assert message.is_multipart()  # text and HTML
    token = link_in(message, "/verify-email")

    verified = await client.post("/api/v1/auth/verify-email", json={"token": token})
    assert verified.status_code == 200
    assert verified.json()["email_verified_at"] is not None
    again = await client.post("/api/v1/auth/verify-email", json={"token": token})
    assert (again.status_code, again.json()["code"]) == (422, "invalid_link")


async def test_resend_answers_the_same_for_unknown_addresses(
    client: httpx.AsyncClient,
    settings: Settings,
    database: Database,
    jobs: None,
    make_user: MakeUser,
) -> None:
    user = await make_user()
    known = await client.post("/api/v1/auth/verify-email/resend", json={"email": user.email})
    unknown = await client.post(
        "/api/v1/auth/verify-email/resend", json={"email": "no@one.example"}
    )
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    await work(settings, database)
    assert len(mailbox(settings, user.email)) == 1
    assert mailbox(settings, "no@one.example") == []


async def test_password_reset_by_email_ends_every_session(
    client: httpx.AsyncClient,
    settings: Settings,
    database: Database,
    jobs: None,
    sign_in: SignIn,
) -> None:
    me = await sign_in()
    asked = await client.post("/api/v1/auth/password/forgot", json={"email": me.email.upper()})
    assert asked.status_code == 202
    await work(settings, database)
    (message,) = mailbox(settings, me.email)
    token = link_in(message, "/reset-password")

    weak = await client.post(
        "/api/v1/auth/password/reset", json={"token": token, "new_password": "password1"}
    )
    assert weak.json()["code"] == "weak_password"  # refused and rolled back: the link still works
    reset = await client.post(
        "/api/v1/auth/password/reset", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert reset.status_code == 204, reset.text
    assert (await client.get("/api/v1/me", headers=me.headers)).status_code == 401
    old = await client.post("/api/v1/auth/login", json={"email": me.email, "password": PASSWORD})
    assert old.status_code == 401
    new = await client.post(
        "/api/v1/auth/login", json={"email": me.email, "password": NEW_PASSWORD}
    )
    assert new.status_code == 200
    reused = await client.post(
        "/api/v1/auth/password/reset", json={"token": token, "new_password": NEW_PASSWORD + "x"}
    )
    assert reused.json()["code"] == "invalid_link"


async def test_email_change_takes_effect_only_when_the_new_address_is_verified(
    client: httpx.AsyncClient,
    settings: Settings,
    database: Database,
    jobs: None,
    sign_in: SignIn,
) -> None:
    me = await sign_in()
    wrong = await client.post(
        "/api/v1/me/email",
        headers=me.headers,
        json={"new_email": "new.me@example.org", "current_password": "wrong-one-entirely-3"},
    )
    assert wrong.status_code == 401
    asked = await client.post(
        "/api/v1/me/email",
        headers=me.headers,
        json={"new_email": "New.Me@example.org", "current_password": PASSWORD},
    )
    assert asked.status_code == 202
    assert (await client.get("/api/v1/me", headers=me.headers)).json()["email"] == me.email
    await work(settings, database)
    (message,) = mailbox(settings, "new.me@example.org")
    token = link_in(message, "/verify-email")
    changed = await client.post("/api/v1/auth/verify-email", json={"token": token})
    assert changed.status_code == 200
    assert changed.json()["email"] == "new.me@example.org"
    login = await client.post(
        "/api/v1/auth/login", json={"email": "new.me@example.org", "password": PASSWORD}
    )
    assert login.status_code == 200


@pytest.fixture
def smtp_server() -> Iterator[tuple[Controller, list[Message]]]:
    received: list[Message] = []

    class Collect(MessageHandler):
        def handle_message(self, message: Message) -> None:
            received.append(message)

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Collect(), hostname="127.0.0.1", port=port)
    controller.start()
    yield controller, received
    controller.stop()


async def test_smtp_transport_delivers_to_a_real_smtp_server(
    settings: Settings, smtp_server: tuple[Controller, list[Message]], tmp_path: Path
) -> None:
    controller, received = smtp_server
    smtp = settings.model_copy(
        update={
            "mail_transport": "smtp",
            "smtp_host": "127.0.0.1",
            "smtp_port": controller.port,
            "smtp_security": "none",
        }
    )
    message = compose(
        smtp, to="patient@example.org", subject="Hello", text="Plain body", html="<p>HTML body</p>"
    )
    message_id = await SmtpTransport(smtp).send(message)
    for _ in range(50):
        if received:
            break
        await asyncio.sleep(0.05)
    (got,) = received
    assert got["Message-ID"] == message_id
    assert got["To"] == "patient@example.org"
    assert got["Subject"] == "Hello"
