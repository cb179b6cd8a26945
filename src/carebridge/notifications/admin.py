"""Admin view of deliveries, and retrying a dead one."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.compliance.service import record
from carebridge.notifications.models import Delivery, DeliveryStatus, Notification
from carebridge.platform.context import RequestContext
from carebridge.platform.errors import Conflict, NotFound
from carebridge.platform.pagination import Page, keyset_page


async def list_deliveries(
    db: AsyncSession,
    *,
    status: str | None,
    channel: str | None,
    kind: str | None,
    cursor: str | None,
    limit: int,
) -> Page[Delivery]:
    statement = select(Delivery)
    if status:
        statement = statement.where(Delivery.status == status)
    if channel:
        statement = statement.where(Delivery.channel == channel)
    if kind:
        statement = statement.join(Notification, Notification.id == Delivery.notification_id).where(
            Notification.kind == kind
        )
    return await keyset_page(db, statement, Delivery, cursor=cursor, limit=limit)


def can_retry(row: Delivery) -> bool:
    """Only a dead delivery is sent again: the others are still on their way, or done."""
    return row.status == DeliveryStatus.dead


@dataclass(frozen=True)
class DeliveryLine:
    """A delivery as the admin page lists it: with its notification's kind and recipient, and
    whether it may be retried."""

    delivery: Delivery
    kind: str
    recipient_id: uuid.UUID
    retryable: bool


async def describe(db: AsyncSession, rows: list[Delivery]) -> list[DeliveryLine]:
    if not rows:
        return []
    ids = {row.notification_id for row in rows}
    found = await db.execute(
        select(Notification.id, Notification.kind, Notification.recipient_id).where(
            Notification.id.in_(ids)
        )
    )
    notifications = {n.id: n for n in found}
    return [
        DeliveryLine(
            delivery=row,
            kind=notifications[row.notification_id].kind,
            recipient_id=notifications[row.notification_id].recipient_id,
            retryable=can_retry(row),
        )
        for row in rows
    ]


async def count_by_status(
    db: AsyncSession, statuses: tuple[DeliveryStatus, ...]
) -> dict[DeliveryStatus, int]:
    """How many deliveries are in each of ``statuses`` (what an admin looks at: ``failed``,
    being retried, and ``dead``, given up until an admin retries it)."""
    rows = await db.execute(
        select(Delivery.status, func.count())
        .where(Delivery.status.in_(statuses))
        .group_by(Delivery.status)
    )
    found = {DeliveryStatus(status): int(count) for status, count in rows}
    return {status: found.get(status, 0) for status in statuses}


async def retry_delivery(
    db: AsyncSession, actor: Actor, delivery_id: uuid.UUID, context: RequestContext
) -> Delivery:
    from carebridge.notifications.tasks import deliver_after_commit

    row = await db.get(Delivery, delivery_id, with_for_update=True)
    if row is None:
        raise NotFound("No such delivery.")
    if not can_retry(row):
        raise Conflict("Only a dead delivery can be retried.", code="not_dead")
    await db.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id)
        .values(status=DeliveryStatus.pending, attempts=0, next_attempt_at=datetime.now(UTC))
    )
    await db.refresh(row)
    await record(
        db,
        action="admin.delivery_retried",
        actor_id=actor.id,
        actor_role=actor.role,
        resource_type="delivery",
        resource_id=delivery_id,
        context=context,
    )
    deliver_after_commit(db, [delivery_id])
    return row
