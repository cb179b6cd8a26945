"""The patient's video calls in their data export: the calls of their appointments and those they
joined or were invited to, with who took part and when (no media: calls are not recorded)."""

from __future__ import annotations

import uuid

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.platform.context import CallScope
from carebridge.platform.exporting import DomainExport, rows_of
from carebridge.scheduling.models import Appointment
from carebridge.video.models import Call, CallGuest, CallParticipant, CallQuality


async def export_patient(db: AsyncSession, scope: CallScope, patient_id: uuid.UUID) -> DomainExport:
    opener = scope.keyring.open_text
    theirs = select(Appointment.id).where(Appointment.patient_id == patient_id)
    joined = select(CallParticipant.call_id).where(CallParticipant.user_id == patient_id)
    invited = select(CallGuest.appointment_id).where(CallGuest.user_id == patient_id)
    calls = list(
        await db.scalars(
            select(Call)
            .where(
                or_(
                    Call.appointment_id.in_(theirs),
                    Call.id.in_(joined),
                    Call.appointment_id.in_(invited),
                )
            )
            .order_by(Call.created_at)
        )
    )
    participants = list(
        await db.scalars(
            select(CallParticipant).where(CallParticipant.call_id.in_([c.id for c in calls]))
        )
    )
    own = [p.id for p in participants if p.user_id == patient_id]
    quality = await db.scalars(select(CallQuality).where(CallQuality.participant_id.in_(own)))
    guests = await db.scalars(select(CallGuest).where(CallGuest.user_id == patient_id))
    return DomainExport(
        {
            "calls": rows_of(calls, opener),
            "participants": rows_of(participants, opener),
            "connection_quality": rows_of(quality, opener),
            "invitations": rows_of(guests, opener),
        }
    )
