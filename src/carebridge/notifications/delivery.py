"""Delivering rows: claim a batch, send over one connection per channel, record each outcome.

Rows are claimed with one atomic UPDATE (pending/failed and due → sending, attempts + 1), so a
row that is ``sent`` is never sent again and two workers never send the same row at once. Each
outcome is recorded right after its send. A worker killed between a send and its record leaves
that row ``sending``; the sweep retries it after a timeout, so nothing is lost (at-least-once:
a message on the wire when the worker died may go out twice).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import or_, select, update

from carebridge.accounts.models import User
from carebridge.config import Settings
from carebridge.notifications.models import Delivery, DeliveryStatus, Notification
from carebridge.notifications.transports import PermanentFailure, Sender, Transport
from carebridge.platform.db import Database
from carebridge.platform.errors import RateLimited
from carebridge.platform.ratelimit import RateLimiter

log = structlog.get_logger(__name__)

Outcome = tuple[str, datetime | None]


def backoff(settings: Settings, attempts: int) -> timedelta:
    ceiling = min(
        settings.notification_retry_cap_seconds,
        settings.notification_retry_base_seconds * 2 ** max(attempts - 1, 0),
    )
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))  # noqa: S311 - jitter


async def deliver_batch(
    database: Database,
    settings: Settings,
    transports: dict[str, Transport],
    limiter: RateLimiter,
    delivery_ids: Sequence[uuid.UUID],
) -> dict[uuid.UUID, Outcome]:
    """Try the due rows among ``delivery_ids``; returns each tried row's status and retry time."""
    now = datetime.now(UTC)
    async with database.transaction() as db:
        claimed = (
            await db.execute(
                update(Delivery)
                .where(
                    Delivery.id.in_(delivery_ids),
                    Delivery.status.in_([DeliveryStatus.pending, DeliveryStatus.failed]),
                    or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now),
                )
                .values(
                    status=DeliveryStatus.sending, attempts=Delivery.attempts + 1, updated_at=now
                )
                .returning(
                    Delivery.id, Delivery.notification_id, Delivery.channel, Delivery.attempts
                )
            )
        ).all()
        if not claimed:
            return {}
        notifications = {
            n.id: n
            for n in await db.scalars(
                select(Notification).where(
                    Notification.id.in_({c.notification_id for c in claimed})
                )
            )
        }
        users = {
            u.id: u
            for u in await db.scalars(
                select(User).where(User.id.in_({n.recipient_id for n in notifications.values()}))
            )
        }
    outcomes: dict[uuid.UUID, Outcome] = {}
    for channel in sorted({c.channel for c in claimed}):
        rows = [c for c in claimed if c.channel == channel]
        transport = transports.get(channel)
        if transport is None:
            for row in rows:
                outcomes[row.id] = await _record(
                    database, row.id, DeliveryStatus.dead, "no transport for this channel", None
                )
            continue
        try:
            async with transport.open() as send:
                for row in rows:
                    notification = notifications.get(row.notification_id)
                    user = users.get(notification.recipient_id) if notification else None
                    outcomes[row.id] = await _attempt(
                        database,
                        settings,
                        limiter,
                        send,
                        row.id,
                        channel,
                        row.attempts,
                        notification,
                        user,
                    )
        except Exception as exc:  # the connection itself failed: every untried row waits
            for row in rows:
                if row.id not in outcomes:
                    outcomes[row.id] = await _failed(database, settings, row.id, row.attempts, exc)
    return outcomes


async def _attempt(
    database: Database,
    settings: Settings,
    limiter: RateLimiter,
    send: Sender,
    delivery_id: uuid.UUID,
    channel: str,
    attempts: int,
    notification: Notification | None,
    user: User | None,
) -> Outcome:
    if notification is None or user is None:
        return await _record(database, delivery_id, DeliveryStatus.dead, "nothing to send", None)
    try:
        if channel in _RATES:
            await limiter.hit(_RATES[channel](settings), "deliveries", channel)
        provider_id = await send(notification, user)
    except RateLimited as exc:  # over the channel's rate: wait, without spending the attempt
        retry_at = datetime.now(UTC) + timedelta(seconds=int(exc.headers.get("Retry-After", "1")))
        return await _record(
            database, delivery_id, DeliveryStatus.pending, "rate limited", retry_at, refund=True
        )
    except PermanentFailure as exc:
        return await _record(database, delivery_id, DeliveryStatus.dead, str(exc), None)
    except Exception as exc:  # temporary by default: another attempt may succeed
        return await _failed(database, settings, delivery_id, attempts, exc)
    return await _record(database, delivery_id, DeliveryStatus.sent, None, None, provider_id)


async def _failed(
    database: Database, settings: Settings, delivery_id: uuid.UUID, attempts: int, exc: Exception
) -> Outcome:
    reason = (str(exc) or type(exc).__name__)[:500]
    if attempts >= settings.notification_max_attempts:
        return await _record(database, delivery_id, DeliveryStatus.dead, reason, None)
    retry_at = datetime.now(UTC) + backoff(settings, attempts)
    return await _record(database, delivery_id, DeliveryStatus.failed, reason, retry_at)


_RATES = {"email": lambda s: s.email_rate_limit, "sms": lambda s: s.sms_rate_limit}


async def _record(
    database: Database,
    delivery_id: uuid.UUID,
    status: DeliveryStatus,
    error: str | None,
    retry_at: datetime | None,
    provider_id: str | None = None,
    refund: bool = False,
) -> Outcome:
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
