"""The patient's appointments (with the reason they gave) and their reminders, in their data
export."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.platform.context import CallScope
from carebridge.platform.exporting import DomainExport, rows_of
from carebridge.scheduling.models import Appointment, Reminder
from carebridge.scheduling.sealed import REASON

SUMMARY_LINES = 20  # the latest appointments in the PDF summary; all of them in the JSON


async def export_patient(db: AsyncSession, scope: CallScope, patient_id: uuid.UUID) -> DomainExport:
    opener = scope.keyring.open_text
    appointments = list(
        await db.scalars(
            select(Appointment)
            .where(Appointment.patient_id == patient_id)
            .order_by(Appointment.starts_at)
        )
    )
    reminders = await db.scalars(select(Reminder).where(Reminder.recipient_id == patient_id))
    return DomainExport(
        {
            "appointments": rows_of(
                appointments, opener, sealed=(REASON,), omit=("idempotency_key", "request_hash")
            ),
            "reminders": rows_of(reminders, opener),
        },
        summary=[
            f"{row.starts_at:%Y-%m-%d %H:%M} UTC, {row.type}, {row.status.replace('_', ' ')}"
            for row in appointments[-SUMMARY_LINES:]
        ],
    )
