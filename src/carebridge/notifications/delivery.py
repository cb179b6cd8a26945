"""Delivering one row: claim it, send it outside the claim's transaction, record the outcome.

A row is claimed with an atomic UPDATE (pending/failed and due → sending, attempts + 1), so a
row that is ``sent`` is never sent again and two workers never send the same row at once. A
worker killed between sending and recording leaves the row ``sending``; the sweep retries it
after a timeout, so nothing is lost (at-least-once: that message may go out twice).
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import or_, select, update

from carebridge.accounts.models import User
from carebridge.config import Settings
from carebridge.notifications.models import Delivery, DeliveryStatus, Notification
from carebridge.notifications.transports import PermanentFailure, Transport
from carebridge.platform.db import Database
from carebridge.platform.errors import RateLimited
from carebridge.platform.ratelimit import RateLimiter

log = structlog.get_logger(__name__)


def backoff(settings: Settings, attempts: int) -> timedelta:
    ceiling = min(
        settings.notification_retry_cap_seconds,
        settings.notification_retry_base_seconds * 2 ** max(attempts - 1, 0),
    )
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))  # noqa: S311 - jitter


async def deliver_one(
    database: Database,
    settings: Settings,
    transports: dict[str, Transport],
    limiter: RateLimiter,
    delivery_id: uuid.UUID,
) -> tuple[str, datetime | None]:
    """Try one delivery; returns its new status and, when it will be retried, when."""
    now = datetime.now(UTC)
    async with database.transaction() as db:
        claimed = await db.scalar(
            update(Delivery)
            .where(
                Delivery.id == delivery_id,
                Delivery.status.in_([DeliveryStatus.pending, DeliveryStatus.failed]),
                or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now),
            )
            .values(status=DeliveryStatus.sending, attempts=Delivery.attempts + 1, updated_at=now)
            .returning(Delivery)
        )
        if claimed is None:
            return "not_due", None
        notification = await db.get(Notification, claimed.notification_id)
        user = await db.get(User, notification.recipient_id) if notification else None
        channel, attempts = claimed.channel, claimed.attempts
    transport = transports.get(channel)
    if notification is None or user is None or transport is None:
        return await _record(database, delivery_id, DeliveryStatus.dead, "nothing to send", None)
    try:
        if channel in _RATES:
            await limiter.hit(_RATES[channel](settings), "deliveries", channel)
        provider_id = await transport.send(notification, user)
    except RateLimited as exc:  # over the channel's rate: wait, without spending the attempt
        retry_at = now + timedelta(seconds=int(exc.headers.get("Retry-After", "1")))
        return await _record(
            database, delivery_id, DeliveryStatus.pending, "rate limited", retry_at, refund=True
        )
    except PermanentFailure as exc:
        return await _record(database, delivery_id, DeliveryStatus.dead, str(exc), None)
    except Exception as exc:  # temporary by default: another attempt may succeed
        if attempts >= settings.notification_max_attempts:
            return await _record(database, delivery_id, DeliveryStatus.dead, _reason(exc), None)
        retry_at = datetime.now(UTC) + backoff(settings, attempts)
        return await _record(database, delivery_id, DeliveryStatus.failed, _reason(exc), retry_at)
    return await _record(database, delivery_id, DeliveryStatus.sent, None, None, provider_id)


_RATES = {"email": lambda s: s.email_rate_limit}


def _reason(exc: Exception) -> str:
    return (str(exc) or type(exc).__name__)[:500]


async def _record(
    database: Database,
    delivery_id: uuid.UUID,
    status: DeliveryStatus,
    error: str | None,
    retry_at: datetime | None,
    provider_id: str | None = None,
    refund: bool = False,
) -> tuple[str, datetime | None]:
    values: dict[str, object] = {
        "status": status,
        "last_error": error,
        "next_attempt_at": retry_at,
        "updated_at": datetime.now(UTC),
    }
    if status == DeliveryStatus.sent:
        values.update(sent_at=datetime.now(UTC), provider_message_id=provider_id)
    if refund:
        values["attempts"] = Delivery.attempts - 1
    async with database.transaction() as db:
        await db.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, Delivery.status == DeliveryStatus.sending)
            .values(**values)
        )
    if status == DeliveryStatus.dead:
        log.warning("delivery_dead", delivery_id=str(delivery_id), reason=error)
    return status, retry_at


async def due_deliveries(
    database: Database, settings: Settings, limit: int = 5000
) -> list[uuid.UUID]:
    """Rows the sweep should (re)start: due and waiting, or stuck in ``sending`` past the
    timeout (their worker died). Stuck rows are put back to pending."""
    now = datetime.now(UTC)
    stuck_before = now - timedelta(seconds=settings.notification_sending_timeout_seconds)
    async with database.transaction() as db:
        await db.execute(
            update(Delivery)
            .where(Delivery.status == DeliveryStatus.sending, Delivery.updated_at < stuck_before)
            .values(
                status=DeliveryStatus.pending,
                next_attempt_at=now,
                last_error="worker stopped while sending; retried",
            )
        )
        rows = await db.scalars(
            select(Delivery.id)
            .where(
                Delivery.status.in_([DeliveryStatus.pending, DeliveryStatus.failed]),
                Delivery.next_attempt_at <= now,
            )
            .order_by(Delivery.next_attempt_at)
            .limit(limit)
        )
        return list(rows)
