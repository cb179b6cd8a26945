"""How long notifications keeps what it sent (``platform/retention.py``): the in-app
notifications, and the delivery log of each channel (email, SMS, push)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.notifications.models import Delivery, DeliveryStatus, Notification
from carebridge.platform.context import CallScope
from carebridge.platform.retention import DataClass, purge_rows

# A delivery in one of these states will not be tried again: its row is only a log.
FINISHED = (DeliveryStatus.sent, DeliveryStatus.dead, DeliveryStatus.skipped)


async def purge_notifications(
    db: AsyncSession, scope: CallScope, cutoff: datetime, dry_run: bool
) -> int:
    """Notifications written before ``cutoff`` none of whose deliveries is still to be tried
    (nothing that must be sent is lost); their delivery rows go with them."""
    unfinished = exists(
        select(Delivery.id).where(
            Delivery.notification_id == Notification.id, Delivery.status.not_in(FINISHED)
        )
    )
    condition = and_(Notification.created_at < cutoff, ~unfinished)
    return await purge_rows(db, Notification.id, condition, dry_run)


async def purge_delivery_logs(
    db: AsyncSession, scope: CallScope, cutoff: datetime, dry_run: bool
) -> int:
    """Finished deliveries (sent, given up, skipped) last changed before ``cutoff``: the
    provider's message id and the last error, kept to answer "did my email go out?"."""
    condition = and_(Delivery.status.in_(FINISHED), Delivery.updated_at < cutoff)
    return await purge_rows(db, Delivery.id, condition, dry_run)


# The delivery log first: a notification's purge takes its deliveries with it, so in this order
# a dry run's counts are the real run's.
RETENTION = (
    DataClass(
        name="delivery_logs",
        description="The delivery log of email, SMS and push (status, attempts, provider "
        "message id, last error), once finished",
        where="notification_deliveries",
        setting="retention_delivery_logs_days",
        unit="days",
        legal_basis="GDPR Art. 5(1)(e) storage limitation: kept to answer delivery questions "
        "and provider disputes",
        purge=purge_delivery_logs,
    ),
    DataClass(
        name="notifications",
        description="In-app notifications (title, text, link) with their deliveries, once "
        "none is left to send",
        where="notifications, notification_deliveries",
        setting="retention_notifications_days",
        unit="days",
        legal_basis="GDPR Art. 5(1)(e) storage limitation: a notice of something whose record "
        "is kept where it happened",
        purge=purge_notifications,
    ),
)
