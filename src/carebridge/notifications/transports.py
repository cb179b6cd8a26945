"""Channel transports: each sends one delivery and says whether a failure is worth retrying."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from email.message import Message
from pathlib import Path
from typing import Protocol

import aiosmtplib
from jinja2 import Environment, FileSystemLoader, select_autoescape

from carebridge.accounts.models import User
from carebridge.config import Settings
from carebridge.notifications.models import Channel, Notification
from carebridge.platform.mail import compose, transport_for
from carebridge.platform.sms import (
    SmsRejected,
    SmsUnavailable,
    fit,
    sms_transport_for,
    valid_number,
)

_emails = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates" / "email"),
    autoescape=select_autoescape(["html"]),
)


class TemporaryFailure(Exception):
    """Worth another attempt later (a busy server, a network error)."""


class PermanentFailure(Exception):
    """Retrying cannot help (a refused address, an invalid number)."""


Sender = Callable[[Notification, User], Awaitable[str]]


class Transport(Protocol):
    def open(self) -> AbstractAsyncContextManager[Sender]:
        """A sender for many deliveries over one connection."""


class EmailTransport:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.mail = transport_for(settings)

    def message(self, notification: Notification, user: User) -> Message:
        base = self.settings.public_base_url
        link = notification.link
        if link and link.startswith("/"):
            link = base + link
        values = {
            "name": user.name,
            "title": notification.title,
            "body": notification.body,
            "link": link,
            "preferences": f"{base}/notifications/preferences",
        }
        return compose(
            self.settings,
            to=user.email,
            subject=notification.title,
            text=_emails.get_template("notification.txt").render(values),
            html=_emails.get_template("notification.html").render(values),
        )

    @asynccontextmanager
    async def open(self) -> AsyncIterator[Sender]:
        try:
            async with self.mail.connection() as connection:

                async def send(notification: Notification, user: User) -> str:
                    try:
                        return await connection.send(self.message(notification, user))
                    except aiosmtplib.SMTPRecipientsRefused as exc:
                        codes = [error.code for error in exc.recipients]
                        temporary = all(400 <= c < 500 for c in codes)
                        failure = TemporaryFailure if temporary else PermanentFailure
                        raise failure(f"recipient refused: {codes}") from exc
                    except aiosmtplib.SMTPResponseException as exc:
                        failure = TemporaryFailure if 400 <= exc.code < 500 else PermanentFailure
                        raise failure(f"SMTP {exc.code}: {exc.message}"[:300]) from exc
                    except (aiosmtplib.SMTPException, OSError) as exc:
                        raise TemporaryFailure(f"{type(exc).__name__}: {exc}"[:300]) from exc

                yield send
        except (aiosmtplib.SMTPException, OSError) as exc:  # could not even connect
            raise TemporaryFailure(f"{type(exc).__name__}: {exc}"[:300]) from exc


class SmsChannel:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sms = sms_transport_for(settings)

    def text(self, notification: Notification) -> str:
        link = notification.link
        if link and link.startswith("/"):
            link = self.settings.public_base_url + link
        body = f"CareBridge: {notification.title}. {notification.body}"
        text = fit(body, self.settings.sms_max_segments - (1 if link else 0))
        return f"{text} {link}" if link else text

    @asynccontextmanager
    async def open(self) -> AsyncIterator[Sender]:
        callback = f"{self.settings.public_base_url}/api/v1/webhooks/sms/status"

        async def send(notification: Notification, user: User) -> str:
            if not user.phone or not valid_number(user.phone):
                raise PermanentFailure("no valid phone number")
            try:
                return await self.sms.send(user.phone, self.text(notification), callback)
            except SmsRejected as exc:
                raise PermanentFailure(str(exc)) from exc
            except SmsUnavailable as exc:
                raise TemporaryFailure(str(exc)) from exc

        yield send


def transports_for(settings: Settings) -> dict[str, Transport]:
    return {Channel.email: EmailTransport(settings), Channel.sms: SmsChannel(settings)}
