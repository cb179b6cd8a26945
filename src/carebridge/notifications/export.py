"""What CareBridge told the patient, and how they like to be told, in their data export (push
subscriptions by device and time only: their endpoints and keys are secrets)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.notifications.models import Notification, Preference, PushSubscription, QuietHours
from carebridge.platform.context import CallScope
from carebridge.platform.exporting import DomainExport, rows_of


async def export_patient(db: AsyncSession, scope: CallScope, patient_id: uuid.UUID) -> DomainExport:
    opener = scope.keyring.open_text
    notifications = await db.scalars(
        select(Notification)
        .where(Notification.recipient_id == patient_id)
        .order_by(Notification.created_at)
    )
    preferences = await db.scalars(select(Preference).where(Preference.user_id == patient_id))
    quiet = await db.scalars(select(QuietHours).where(QuietHours.user_id == patient_id))
    push = await db.scalars(select(PushSubscription).where(PushSubscription.user_id == patient_id))
    return DomainExport(
        {
            "notifications": rows_of(notifications, opener, omit=("dedup_key",)),
            "preferences": rows_of(preferences, opener),
            "quiet_hours": rows_of(quiet, opener),
            "push_subscriptions": rows_of(push, opener, omit=("endpoint", "p256dh", "auth")),
        }
    )
