"""A real SMTP server on localhost and settings that send email through it; the notifications
waiting in the job queue."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email.message import Message

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from carebridge.config import Settings
from carebridge.platform.jobs import job_app


class SmtpSink:
    """A real SMTP server on localhost; ``replies`` scripts its answers ("451 ...", "550 ...")."""

    def __init__(self) -> None:
        self.received: list[Envelope] = []
        self.replies: list[str] = []
        self.always: str | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.always:
            return self.always
        if self.replies:
            return self.replies.pop(0)
        self.received.append(envelope)
        return "250 Message accepted for delivery"

    def messages(self) -> list[Message]:
        import email

        return [email.message_from_bytes(e.content) for e in self.received]  # type: ignore[arg-type]


def plain_text(message: Message) -> str:
    """The text part of an email."""
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode()
    raise AssertionError("no text part")


@pytest.fixture
def smtp() -> Iterator[tuple[SmtpSink, int]]:
    sink = SmtpSink()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    yield sink, port
    controller.stop()


@pytest.fixture
def mail_settings(settings: Settings, smtp: tuple[SmtpSink, int]) -> Settings:
    return settings.model_copy(
        update={
            "mail_transport": "smtp",
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp[1],
            "smtp_security": "none",
            "notification_retry_base_seconds": 0.5,
            "notification_retry_cap_seconds": 1.0,
            "notification_max_attempts": 3,
        }
    )


async def queued() -> int:
    row = await job_app.connector.execute_query_one_async(
        "SELECT count(*) AS n FROM procrastinate_jobs WHERE queue_name = 'notifications' "
        "AND status = 'todo'"
    )
    return int(row["n"])
