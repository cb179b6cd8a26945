"""Channel transports: each sends one delivery and says whether a failure is worth retrying."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from email.message import Message
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import aiosmtplib
import structlog
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import delete, select, update

from carebridge.accounts.models import User
from carebridge.config import Settings
from carebridge.notifications.kinds import load_kinds
from carebridge.notifications.models import Channel, Notification, PushSubscription
from carebridge.platform.db import Database
from carebridge.platform.mail import compose, transport_for
from carebridge.platform.push import PushGone, PushRejected, PushUnavailable, send_push, vapid_key
from carebridge.platform.sms import (
    SmsRejected,
    SmsUnavailable,
    fit,
    sms_transport_for,
    valid_number,
)

log = structlog.get_logger(__name__)


@cache
def _templates_in(folder: Path) -> Environment:
    return Environment(loader=FileSystemLoader(folder), autoescape=select_autoescape(["html"]))


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
    def __init__(self, settings: Settings, database: Database) -> None:
        self.settings = settings
        self.database = database
        self.mail = transport_for(settings)

    async def message(self, notification: Notification, user: User) -> Message:
        base = self.settings.public_base_url
        link = notification.link
        if link and link.startswith("/"):
            link = base + link
        values: dict[str, Any] = {
            "name": user.name,
            "email": user.email,
            "title": notification.title,
            "subject": notification.title,
            "body": notification.body,
            "link": link,
            "preferences": f"{base}/notifications/preferences",
        }
        spec = load_kinds().get(notification.kind)
        environment, template = _emails, "notification"
        if spec is not None and spec.email_context is not None:
            async with self.database.transaction() as db:
                values.update(await spec.email_context(db, notification, user, self.settings))
        if spec is not None and spec.email_templates is not None:
            environment, template = _templates_in(spec.email_templates), spec.name
        return compose(
            self.settings,
            to=str(values.get("to") or user.email),
            subject=str(values["subject"]),
            text=environment.get_template(f"{template}.txt").render(values),
            html=environment.get_template(f"{template}.html").render(values),
        )

    @asynccontextmanager
    async def open(self) -> AsyncIterator[Sender]:
        try:
            async with self.mail.connection() as connection:

                async def send(notification: Notification, user: User) -> str:
                    try:
                        return await connection.send(await self.message(notification, user))
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


class PushChannel:
    """Sends to every subscribed device of the recipient; a device the push service forgot
    (404/410) is removed. Delivered when at least one device took it."""

    def __init__(self, settings: Settings, database: Database) -> None:
        self.settings = settings
        self.database = database

    def payload(self, notification: Notification) -> dict[str, str | None]:
        return {
            "id": str(notification.id),
            "title": notification.title,
            "body": notification.body,
            "link": notification.link,
            "kind": notification.kind,
        }

    @asynccontextmanager
    async def open(self) -> AsyncIterator[Sender]:
        key = vapid_key(self.settings)

        async def send(notification: Notification, user: User) -> str:
            if key is None:
                raise PermanentFailure("web push is not configured (no VAPID key)")
            async with self.database.sessionmaker() as db:
                devices = list(
                    await db.scalars(
                        select(PushSubscription).where(PushSubscription.user_id == user.id)
                    )
                )
            delivered, gone, temporary = 0, [], []
            for device in devices:
                try:
                    await send_push(
                        key,
                        self.settings.vapid_subject,
                        device.endpoint,
                        device.p256dh,
                        device.auth,
                        self.payload(notification),
                    )
                    delivered += 1
                except PushGone:
                    gone.append(device.id)
                except PushUnavailable as exc:
                    temporary.append(str(exc))
                except PushRejected as exc:
                    log.warning("push_rejected", subscription=str(device.id), reason=str(exc))
            async with self.database.transaction() as db:
                if gone:
                    await db.execute(delete(PushSubscription).where(PushSubscription.id.in_(gone)))
                if delivered:
                    await db.execute(
                        update(PushSubscription)
                        .where(
                            PushSubscription.user_id == user.id,
                            PushSubscription.id.not_in(gone or [uuid.uuid4()]),
                        )
                        .values(last_used_at=datetime.now(UTC))
                    )
            if delivered:
                return f"{delivered} device(s)"
            if temporary:
                raise TemporaryFailure("; ".join(temporary)[:300])
            raise PermanentFailure("no subscribed device accepted it")

        yield send


def transports_for(settings: Settings, database: Database) -> dict[str, Transport]:
    return {
        Channel.email: EmailTransport(settings, database),
        Channel.sms: SmsChannel(settings),
        Channel.push: PushChannel(settings, database),
    }
