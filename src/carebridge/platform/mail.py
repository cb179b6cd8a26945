"""Sending email: a small transport interface, SMTP for real, files for development.

Messages are sent from jobs, never from a request. The file transport writes each message as an
``.eml`` file under ``<data dir>/outbox`` so a developer (or a test) can open it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Protocol

import aiosmtplib
import structlog

from carebridge.config import Settings

log = structlog.get_logger(__name__)


class MailTransport(Protocol):
    async def send(self, message: EmailMessage) -> str:
        """Deliver ``message``; return where it went (a message id or a file path)."""


def compose(
    settings: Settings, *, to: str, subject: str, text: str, html: str | None = None
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
    message["Message-ID"] = make_msgid(domain="carebridge")
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


class FileTransport:
    def __init__(self, outbox: Path) -> None:
        self.outbox = outbox

    async def send(self, message: EmailMessage) -> str:
        self.outbox.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        path = self.outbox / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
        path.write_bytes(bytes(message))
        log.info("email_written", path=str(path), subject=message["Subject"])
        return str(path)


class SmtpTransport:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def send(self, message: EmailMessage) -> str:
        s = self.settings
        await aiosmtplib.send(
            message,
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username,
            password=s.smtp_password.get_secret_value() if s.smtp_password else None,
            use_tls=s.smtp_security == "tls",
            start_tls=s.smtp_security == "starttls",
            timeout=20,
        )
        log.info("email_sent", host=s.smtp_host, subject=message["Subject"])
        return str(message["Message-ID"])


def transport_for(settings: Settings) -> MailTransport:
    if settings.mail_transport == "smtp":
        return SmtpTransport(settings)
    return FileTransport(settings.data_dir / "outbox")
