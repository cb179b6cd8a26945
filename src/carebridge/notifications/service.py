"""Writing notifications (one call, used by every domain inside its own transaction) and
reading them back. Nothing is sent before commit: deliveries are rows, and their jobs are
deferred after commit; a periodic sweep picks up anything left behind."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import Role, User, UserStatus
from carebridge.notifications.kinds import ADMIN_ALERT, Kind
from carebridge.notifications.kinds import kind as find_kind
from carebridge.notifications.models import (
    Channel,
    DeliveryStatus,
    Notification,
    Priority,
)
from carebridge.notifications.queries import (
    MANY_RECIPIENTS,
    ONE_RECIPIENT,
    WRITE_NOTIFICATIONS,
    NewNotifications,
    RecipientOf,
    RecipientsOf,
)
from carebridge.notifications.quiet import quiet_until
from carebridge.platform.db import driver_connection, lock_for_transaction
from carebridge.platform.errors import NotFound
from carebridge.platform.events import publish_after_commit
from carebridge.platform.pagination import Page, keyset_page

_INSERT_CHUNK = 5000
# Channels whose transports exist; the others are skipped with a reason until they do.
DELIVERED_CHANNELS = (Channel.email, Channel.sms, Channel.push)


@dataclass(frozen=True)
class Recipient:
    id: uuid.UUID
    time_zone: str
    has_phone: bool
    has_push: bool
    quiet: tuple[Any, Any] | None
    choices: dict[tuple[str, str], bool]


def wanted(kind: Kind, recipient: Recipient, channel: Channel) -> bool:
    default = channel in kind.defaults
    if kind.mandatory and default:
        return True
    return recipient.choices.get((kind.name, channel), default)


def plan(
    kind: Kind, recipient: Recipient, priority: Priority, now: datetime
) -> list[tuple[Channel, DeliveryStatus, datetime | None, str | None]]:
    """For each channel: its first status, when to try it, and why it is skipped."""
    held = None
    if priority == Priority.normal and recipient.quiet is not None:
        held = quiet_until(now, recipient.time_zone, *recipient.quiet)
    rows: list[tuple[Channel, DeliveryStatus, datetime | None, str | None]] = []
    for channel in Channel:
        if not wanted(kind, recipient, channel):
            rows.append((channel, DeliveryStatus.skipped, None, "turned off by the recipient"))
        elif channel == Channel.in_app:
            rows.append((channel, DeliveryStatus.sent, None, None))
        elif channel not in DELIVERED_CHANNELS:
            rows.append((channel, DeliveryStatus.skipped, None, "channel not available yet"))
        elif channel == Channel.sms and not recipient.has_phone:
            rows.append((channel, DeliveryStatus.skipped, None, "no phone number"))
        elif channel == Channel.push and not recipient.has_push:
            rows.append((channel, DeliveryStatus.skipped, None, "no device subscribed"))
        else:
            rows.append((channel, DeliveryStatus.pending, held or now, None))
    return rows


async def load_recipients(
    connection: asyncpg.Connection, ids: Sequence[uuid.UUID], kind: str
) -> list[Recipient]:
    """What :func:`plan` needs about each of ``ids`` for ``kind``, in one statement (it runs
    for every notification written: one round trip instead of four)."""
    if len(ids) == 1:
        one = RecipientOf(ids[0], kind)
        rows = await connection.fetch(ONE_RECIPIENT.sql, *ONE_RECIPIENT.args(one))
    else:
        many = RecipientsOf(list(ids), kind)
        rows = await connection.fetch(MANY_RECIPIENTS.sql, *MANY_RECIPIENTS.args(many))
    return [
        Recipient(
            row["id"],
            row["time_zone"],
            bool(row["has_phone"]),
            bool(row["has_push"]),
            None if row["quiet_starts"] is None else (row["quiet_starts"], row["quiet_ends"]),
            {(kind, channel): bool(enabled) for channel, enabled in row["choices"]},
        )
        for row in rows
    ]


async def _deduplicated(
    db: AsyncSession, ids: Sequence[uuid.UUID], dedup_key: str, window: timedelta
) -> set[uuid.UUID]:
    """Recipients who already got ``dedup_key`` within ``window``. Takes a transaction-level
    lock on the key so that concurrent writers of the same key cannot both pass the check."""
    await lock_for_transaction(db, "notify:" + dedup_key)
    rows = await db.scalars(
        select(Notification.recipient_id).where(
            Notification.recipient_id.in_(ids),
            Notification.dedup_key == dedup_key,
            Notification.created_at > datetime.now(UTC) - window,
        )
    )
    return set(rows)


async def notify(
    db: AsyncSession,
    recipient_id: uuid.UUID,
    kind: str,
    title: str,
    body: str,
    *,
    data: dict[str, Any] | None = None,
    link: str | None = None,
    priority: Priority = Priority.normal,
    dedup_key: str | None = None,
    dedup_window: timedelta | None = None,
) -> uuid.UUID | None:
    """Tell one person something. Returns the notification id, or None when deduplicated."""
    ids = await notify_many(
        db,
        [recipient_id],
        kind,
        title,
        body,
        data=data,
        link=link,
        priority=priority,
        dedup_key=dedup_key,
        dedup_window=dedup_window,
    )
    return ids[0] if ids else None


async def notify_many(
    db: AsyncSession,
    recipient_ids: Iterable[uuid.UUID],
    kind: str,
    title: str,
    body: str,
    *,
    data: dict[str, Any] | None = None,
    link: str | None = None,
    priority: Priority = Priority.normal,
    dedup_key: str | None = None,
    dedup_window: timedelta | None = None,
) -> list[uuid.UUID]:
    """Tell many people the same thing: batched inserts, delivery jobs deferred in batches."""
    from carebridge.notifications.tasks import deliver_after_commit  # tasks import this

    spec = find_kind(kind)
    ids = list(dict.fromkeys(recipient_ids))
    if dedup_key is not None and ids:
        window = dedup_window or timedelta(minutes=60)
        seen = await _deduplicated(db, ids, dedup_key, window)
        ids = [i for i in ids if i not in seen]
    if not ids:
        return []
    now = datetime.now(UTC)
    created: list[uuid.UUID] = []
    due: list[uuid.UUID] = []
    connection = await driver_connection(db)
    for start in range(0, len(ids), _INSERT_CHUNK):
        recipients = await load_recipients(connection, ids[start : start + _INSERT_CHUNK], kind)
        notification_ids = [uuid.uuid4() for _ in recipients]
        deliveries: list[tuple[Any, ...]] = []
        for notification_id, recipient in zip(notification_ids, recipients, strict=True):
            for channel, status, at, reason in plan(spec, recipient, priority, now):
                delivery_id = uuid.uuid4()
                sent = now if status == DeliveryStatus.sent else None
                deliveries.append(
                    (delivery_id, notification_id, str(channel), str(status), at, reason, sent)
                )
                if status == DeliveryStatus.pending and at is not None and at <= now:
                    due.append(delivery_id)
            publish_after_commit(
                db,
                f"user.{recipient.id}",
                "notification.created",
                {"id": str(notification_id), "kind": kind, "title": title, "link": link},
            )
        columns = [list(c) for c in zip(*deliveries, strict=True)] if deliveries else [[]] * 7
        delivery_ids, of_notifications, channels, statuses, attempts, errors, sent_times = columns
        written = NewNotifications(
            notification_ids=notification_ids,
            recipient_ids=[r.id for r in recipients],
            kind=kind,
            title=title,
            body=body,
            data=json.dumps(data or {}),
            link=link,
            priority=str(priority),
            dedup_key=dedup_key,
            delivery_ids=delivery_ids,
            delivery_notification_ids=of_notifications,
            channels=channels,
            statuses=statuses,
            next_attempt_at=attempts,
            last_errors=errors,
            sent_at=sent_times,
        )
        await connection.execute(WRITE_NOTIFICATIONS.sql, *WRITE_NOTIFICATIONS.args(written))
        created += notification_ids
    deliver_after_commit(db, due)
    return created


async def notify_admins(
    db: AsyncSession,
    title: str,
    body: str,
    *,
    data: dict[str, Any] | None = None,
    link: str | None = None,
    dedup_key: str | None = None,
) -> list[uuid.UUID]:
    """Tell every active administrator something that needs a person (kind ``admin_alert``:
    in-app and email unless an admin turned a channel off)."""
    admins = await db.scalars(
        select(User.id).where(User.role == Role.admin, User.status == UserStatus.active)
    )
    return await notify_many(
        db, list(admins), ADMIN_ALERT.name, title, body, data=data, link=link, dedup_key=dedup_key
    )


# -- reading --------------------------------------------------------------------------------------


async def list_notifications(
    db: AsyncSession, actor: Actor, *, unread: bool | None, cursor: str | None, limit: int
) -> Page[Notification]:
    statement = select(Notification).where(Notification.recipient_id == actor.id)
    if unread is True:
        statement = statement.where(Notification.read_at.is_(None))
    elif unread is False:
        statement = statement.where(Notification.read_at.is_not(None))
    return await keyset_page(db, statement, Notification, cursor=cursor, limit=limit)


async def unread_count(db: AsyncSession, actor: Actor) -> int:
    count = await db.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.recipient_id == actor.id, Notification.read_at.is_(None))
    )
    return int(count or 0)


async def mark_read(db: AsyncSession, actor: Actor, notification_id: uuid.UUID) -> Notification:
    row = await db.scalar(
        select(Notification).where(
            Notification.id == notification_id, Notification.recipient_id == actor.id
        )
    )
    if row is None:
        raise NotFound("No such notification.")
    if row.read_at is None:
        row.read_at = datetime.now(UTC)
        await _publish_count(db, actor)
    return row


async def mark_all_read(db: AsyncSession, actor: Actor) -> int:
    result = await db.execute(
        update(Notification)
        .where(Notification.recipient_id == actor.id, Notification.read_at.is_(None))
        .values(read_at=datetime.now(UTC))
        .returning(Notification.id)
    )
    count = len(result.all())
    if count:
        await _publish_count(db, actor)
    return count


async def _publish_count(db: AsyncSession, actor: Actor) -> None:
    await db.flush()
    publish_after_commit(
        db,
        f"user.{actor.id}",
        "notification.unread_count",
        {"unread": await unread_count(db, actor)},
    )
