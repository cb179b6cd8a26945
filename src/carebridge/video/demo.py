"""A demo video consultation to try the call at once: ``patient@`` with ``dr.rivera@``, starting
at the next quarter hour after seeding (its room is open from 10 minutes before). Sign in as each
in two browsers (or one private window) and open the appointment.

Idempotent: nothing is written while that pair has a scheduled video appointment whose room has
not closed yet; once it has, the next seeding books a new one. The appointment is free (the
demo's payments stay out of the way) and gets its conversation as a booking does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.models import User
from carebridge.config import Settings
from carebridge.directory.demo import DOMAIN
from carebridge.messaging import service as messaging
from carebridge.scheduling.hooks import Booking
from carebridge.scheduling.models import Appointment, AppointmentStatus, AppointmentType
from carebridge.video import policy

DOCTOR, PATIENT = f"dr.rivera@{DOMAIN}", f"patient@{DOMAIN}"
LENGTH = timedelta(minutes=30)


async def seed_demo(db: AsyncSession, settings: Settings) -> int:
    users = {
        u.email: u for u in await db.scalars(select(User).where(User.email.in_([DOCTOR, PATIENT])))
    }
    doctor, patient = users.get(DOCTOR), users.get(PATIENT)
    if doctor is None or patient is None:
        return 0
    now = datetime.now(UTC)
    upcoming = await db.scalars(
        select(Appointment).where(
            Appointment.doctor_id == doctor.id,
            Appointment.patient_id == patient.id,
            Appointment.type == AppointmentType.video,
            Appointment.status.in_(policy.OPEN_STATUSES),
            Appointment.ends_at > now - timedelta(minutes=settings.call_grace_minutes),
        )
    )
    if any(policy.room(settings, a).closes_at > now for a in upcoming):
        return 0
    starts = now.replace(second=0, microsecond=0) + timedelta(minutes=15 - now.minute % 15)
    for _ in range(8):  # the next free quarter hour of both
        if await _free(db, doctor, patient, starts):
            break
        starts += timedelta(minutes=15)
    else:
        return 0
    appointment = Appointment(
        doctor_id=doctor.id,
        patient_id=patient.id,
        type=AppointmentType.video,
        status=AppointmentStatus.scheduled,
        starts_at=starts,
        ends_at=starts + LENGTH,
        blocked_until=starts + LENGTH,
        time_zone=doctor.time_zone,
        fee=0,
        confirmed_at=now,
    )
    db.add(appointment)
    await db.flush()
    await messaging.on_booked(db, Booking(appointment, settings))
    return 1


async def _free(db: AsyncSession, doctor: User, patient: User, starts: datetime) -> bool:
    clash = await db.scalar(
        select(Appointment.id)
        .where(
            Appointment.status != AppointmentStatus.cancelled,
            Appointment.starts_at < starts + LENGTH,
            or_(
                and_(Appointment.doctor_id == doctor.id, Appointment.blocked_until > starts),
                and_(Appointment.patient_id == patient.id, Appointment.ends_at > starts),
            ),
        )
        .limit(1)
    )
    return clash is None


def describe() -> str:
    return (
        f"{PATIENT} has a video consultation with {DOCTOR} at the next quarter hour: sign in as "
        "each (two browsers) and open it from Appointments to try the call"
    )
