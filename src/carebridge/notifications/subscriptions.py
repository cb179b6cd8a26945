"""Notifications queues the messages accounts sends its users (``accounts/hooks.py``), tells a
patient their data export is ready and every administrator of a security alert compliance raised
(``compliance/hooks.py``), in the transaction of the change that causes them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.hooks import MESSAGE, Message
from carebridge.accounts.models import Role, User, UserStatus
from carebridge.compliance.hooks import (
    ALERT_RAISED,
    EXPORT_READY,
    EXPORT_READY_KIND,
    AlertRaised,
    ExportReady,
)
from carebridge.notifications.kinds import SECURITY_ALERT
from carebridge.notifications.models import Priority
from carebridge.notifications.service import notify, notify_many


@MESSAGE.subscribe
async def queue_account_message(db: AsyncSession, message: Message) -> None:
    await notify(
        db,
        message.user_id,
        message.kind,
        message.title,
        message.body,
        data=message.data,
        link=message.link,
        priority=Priority.urgent,
    )


@EXPORT_READY.subscribe
async def tell_export_ready(db: AsyncSession, ready: ExportReady) -> None:
    await notify(
        db,
        ready.patient_id,
        EXPORT_READY_KIND,
        "Your data export is ready",
        "The copy of your data you asked for is ready to download for a limited time.",
        data={"export_id": str(ready.export_id)},
        link=ready.link,
    )


@ALERT_RAISED.subscribe
async def tell_admins_of_alert(db: AsyncSession, alert: AlertRaised) -> None:
    admins = await db.scalars(
        select(User.id).where(User.role == Role.admin, User.status == UserStatus.active)
    )
    await notify_many(
        db,
        list(admins),
        SECURITY_ALERT.name,
        alert.title,
        alert.body,
        data={"alert_id": str(alert.alert_id), "rule": alert.rule, "severity": alert.severity},
        link=alert.link,
        priority=Priority.urgent if alert.severity == "high" else Priority.normal,
        dedup_key=f"security-alert:{alert.alert_id}",
    )
