"""Demo reviews: every demo doctor has a few reviews by the demo patients (``patient@``,
``patient2@`` ... ``patient10@``), each of a completed video consultation in the past, so every
rating the directory shows is backed by reviews people can read.

Each review is written by :func:`~carebridge.reviews.service.add_review`, under the rules of
every review: one per completed appointment, the doctor's rating recomputed from the visible
reviews. Idempotent: each demo consultation carries the idempotency key
``demo-review:<doctor>:<n>``, so a second run finds it and writes nothing. A consultation whose
time the doctor or the patient has taken since (an appointment of their own) is left out.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.models import User
from carebridge.config import Settings
from carebridge.directory.demo import DOCTORS, DOMAIN, PATIENTS
from carebridge.directory.models import DoctorProfile
from carebridge.reviews.schemas import ReviewIn
from carebridge.reviews.service import add_review
from carebridge.scheduling.models import Appointment, AppointmentStatus, AppointmentType

KEY_PREFIX = "demo-review:"
CONSULTATION = timedelta(minutes=30)
PER_DAY = 8  # demo consultations on one day, an hour apart from 07:00 UTC
COMMENTS = [
    "Took the time to explain everything and answered all my questions.",
    "Clear advice and a plan I could follow. The video call worked without a hitch.",
    "Friendly and thorough. I felt listened to.",
    None,
    "Quick to see what was wrong; I felt better within days.",
    "Very kind, and followed up with a written summary.",
    "Good consultation, though it started a few minutes late.",
    None,
    "Practical and reassuring. Would book again.",
]
_RATINGS = (5, 5, 4, 5, 3, 5, 4, 4, 5)


def demo_ratings(index: int) -> list[int]:
    """The ratings of the ``index``-th demo doctor: 3 to 7, mostly 5s and 4s, the same on
    every run."""
    return [_RATINGS[(index * 4 + n) % len(_RATINGS)] for n in range(3 + index % 5)]


async def seed_demo(db: AsyncSession, settings: Settings) -> int:
    emails = [f"{row[0]}@{DOMAIN}" for row in DOCTORS] + [f"{p[0]}@{DOMAIN}" for p in PATIENTS]
    users = {u.email: u for u in (await db.scalars(select(User).where(User.email.in_(emails))))}
    patients = [users.get(f"{p[0]}@{DOMAIN}") for p in PATIENTS]
    taken = set(
        (
            await db.scalars(
                select(Appointment.idempotency_key).where(
                    Appointment.idempotency_key.startswith(KEY_PREFIX)
                )
            )
        ).all()
    )
    first_day = datetime.combine(datetime.now(UTC).date() - timedelta(days=2), time(7), UTC)
    created, slot = 0, 0
    for index, row in enumerate(DOCTORS):
        doctor = users.get(f"{row[0]}@{DOMAIN}")
        profile = None if doctor is None else await db.get(DoctorProfile, doctor.id)
        for n, rating in enumerate(demo_ratings(index)):
            slot += 1
            key = f"{KEY_PREFIX}{row[0]}:{n}"
            patient = patients[(index + n) % len(patients)]
            if doctor is None or profile is None or patient is None or key in taken:
                continue
            starts = first_day - timedelta(days=slot // PER_DAY) + timedelta(hours=slot % PER_DAY)
            if not await _free(db, doctor.id, patient.id, starts):
                continue
            appointment = _consultation(profile, patient.id, starts, key, settings.currency)
            db.add(appointment)
            await db.flush()
            comment = COMMENTS[(index + n) % len(COMMENTS)]
            body = ReviewIn(rating=rating, comment=comment)
            await add_review(db, appointment, body, at=appointment.ends_at + timedelta(hours=3))
            created += 1
    return created


def _consultation(
    profile: DoctorProfile, patient_id: uuid.UUID, starts: datetime, key: str, currency: str
) -> Appointment:
    ends = starts + CONSULTATION
    fee = profile.consultation_fee or 0
    return Appointment(
        id=uuid.uuid4(),
        doctor_id=profile.user_id,
        patient_id=patient_id,
        type=AppointmentType.video,
        status=AppointmentStatus.completed,
        starts_at=starts,
        ends_at=ends,
        blocked_until=ends,
        time_zone=profile.time_zone,
        fee=fee,
        currency=currency if fee else None,
        confirmed_at=starts - timedelta(days=3),
        started_at=starts,
        completed_at=ends,
        idempotency_key=key,
    )


async def _free(
    db: AsyncSession, doctor_id: uuid.UUID, patient_id: uuid.UUID, starts: datetime
) -> bool:
    """Whether neither the doctor nor the patient has an appointment at that time (the same
    overlap the database's exclusion constraints refuse)."""
    ends = starts + CONSULTATION
    clash = await db.scalar(
        select(Appointment.id)
        .where(
            Appointment.status != AppointmentStatus.cancelled,
            Appointment.starts_at < ends,
            or_(
                and_(Appointment.doctor_id == doctor_id, Appointment.blocked_until > starts),
                and_(Appointment.patient_id == patient_id, Appointment.ends_at > starts),
            ),
        )
        .limit(1)
    )
    return clash is None


def describe() -> str:
    return (
        "every demo doctor has 3 to 7 reviews by the demo patients, of past video "
        "consultations; the ratings shown are those reviews'"
    )
