"""Sending email: a small transport interface, SMTP for real, files for development.

Messages are sent from jobs, never from a request. The file transport writes each message as an
``.eml`` file under ``<data dir>/outbox`` so a developer (or a test) can open it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from datetime import UTC, datetime
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol

import aiosmtplib
import structlog

from carebridge.config import Settings

log = structlog.get_logger(__name__)


class MailTransport(Protocol):
    async def send(self, message: Message) -> str:
        """Deliver ``message``; return where it went (a message id or a file path)."""

    def connection(self) -> AbstractAsyncContextManager[MailTransport]:
        """A transport that keeps one connection open for many messages."""


def compose(
    settings: Settings, *, to: str, subject: str, text: str, html: str | None = None
) -> Message:
    """A text (and HTML) message. Built with the compat32 MIME classes: the default policy's
    structured headers cost more CPU than the rest of a delivery together."""
    message: Message
    if html is None:
        message = MIMEText(text, "plain", "utf-8")
    else:
        message = MIMEMultipart("alternative")
        message.attach(MIMEText(text, "plain", "utf-8"))
        message.attach(MIMEText(html, "html", "utf-8"))
    message["From"] = settings.mail_from
    message["To"] = to
    # Non-ASCII subjects are RFC 2047 encoded; plain ones stay readable as they are.
    message["Subject"] = subject if subject.isascii() else Header(subject, "utf-8").encode()
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain="carebridge")
    return message


class FileTransport:
    def __init__(self, outbox: Path) -> None:
        self.outbox = outbox

    async def send(self, message: Message) -> str:
        self.outbox.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        path = self.outbox / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
        path.write_bytes(message.as_bytes())
        log.info("email_written", path=str(path))  # never the subject: it may carry PHI
        return str(path)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[FileTransport]:
        yield self


class SmtpTransport:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _client(self) -> aiosmtplib.SMTP:
        s = self.settings
        return aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username,
            password=s.smtp_password.get_secret_value() if s.smtp_password else None,
            use_tls=s.smtp_security == "tls",
            start_tls=s.smtp_security == "starttls",
            timeout=20,
        )

    async def send(self, message: Message) -> str:
        async with self.connection() as connection:
            return await connection.send(message)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[SmtpConnection]:
        connection = SmtpConnection(self._client)
        try:
            yield connection
        finally:
            await connection.close()


class SmtpConnection:
    """One SMTP session reused for many messages (reconnecting once if the server hung up)."""

    def __init__(self, factory: Callable[[], aiosmtplib.SMTP]) -> None:
        self._factory = factory
        self._client: aiosmtplib.SMTP | None = None

    async def send(self, message: Message) -> str:
        for attempt in (1, 2):
            if self._client is None or not self._client.is_connected:
                self._client = self._factory()
                await self._client.connect()
            try:
                await self._client.send_message(message)
                break
            except aiosmtplib.SMTPServerDisconnected:
                self._client = None
                if attempt == 2:
                    raise
        log.info("email_sent", host=self._client.hostname if self._client else None)
        return str(message["Message-ID"])

    async def close(self) -> None:
        if self._client is not None and self._client.is_connected:
            try:
                await self._client.quit()
            except aiosmtplib.SMTPException:
                self._client.close()
        self._client = None

    def connection(self) -> AbstractAsyncContextManager[SmtpConnection]:
        return nullcontext(self)


def transport_for(settings: Settings) -> MailTransport:
    if settings.mail_transport == "smtp":
        return SmtpTransport(settings)
    return FileTransport(settings.data_dir / "outbox")
