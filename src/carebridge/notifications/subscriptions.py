"""Notifications queues the messages accounts sends its users (``accounts/hooks.py``) and tells a
patient their data export is ready (``compliance/hooks.py``), in the transaction of the change
that causes them."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.hooks import MESSAGE, Message
from carebridge.compliance.hooks import EXPORT_READY, EXPORT_READY_KIND, ExportReady
from carebridge.notifications.models import Priority
from carebridge.notifications.service import notify


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
