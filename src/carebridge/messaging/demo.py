"""Demo conversations: the demo patients (``patient@`` ... ``patient3@``) each have a care
thread with the doctors they have seen (up to two), with a short exchange, written through the
service (so the rules, the sealing and the audit trail are the real ones).

Idempotent: the thread of a pair is answered again, and each message has a client id derived
from the pair and its place (``uuid5``), so a second run stores nothing new. A patient whose
write window has closed leaves their line out (the doctor's still stands).
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import Role, User, UserStatus
from carebridge.config import Settings
from carebridge.directory.demo import DOMAIN, PATIENTS
from carebridge.messaging import service
from carebridge.messaging.schemas import ConversationIn, MessageIn
from carebridge.platform.context import CallScope
from carebridge.platform.errors import Conflict
from carebridge.scheduling.models import Appointment, AppointmentStatus

_NAMESPACE = uuid.UUID("5c3f0c8e-2f43-4f57-9a53-6b1f0d9a7e21")
EXCHANGE = [
    (
        Role.doctor,
        "Hello, I have added the summary of our consultation to your record. "
        "How are you feeling since?",
    ),
    (Role.patient, "Much better, thank you. The new dose seems to work."),
    (Role.doctor, "Good to hear. Write here if anything changes."),
]


def _actor(user: User) -> Actor:
    # The service reads who is acting: a stand-in actor without a session.
    return Actor(user.id, Role(user.role), UserStatus(user.status), uuid.uuid4())


async def seed_demo(db: AsyncSession, settings: Settings) -> int:
    scope = CallScope.system(settings)
    emails = [f"{p[0]}@{DOMAIN}" for p in PATIENTS[:3]]
    patients = list(await db.scalars(select(User).where(User.email.in_(emails))))
    created = 0
    for patient in patients:
        doctor_ids = await db.scalars(
            select(Appointment.doctor_id)
            .where(
                Appointment.patient_id == patient.id,
                Appointment.status == AppointmentStatus.completed,
            )
            .group_by(Appointment.doctor_id)
            .order_by(Appointment.doctor_id)
            .limit(2)
        )
        for doctor_id in list(doctor_ids):
            doctor = await db.get(User, doctor_id)
            assert doctor is not None
            thread = await service.open_care_thread(
                db, scope, _actor(patient), ConversationIn(doctor_id=doctor.id)
            )
            for n, (role, text) in enumerate(EXCHANGE):
                writer = doctor if role == Role.doctor else patient
                client_id = uuid.uuid5(_NAMESPACE, f"{patient.id}:{doctor.id}:{n}")
                try:
                    sent = await service.send(
                        db,
                        scope,
                        _actor(writer),
                        thread.id,
                        MessageIn(client_id=client_id, text=text),
                    )
                except Conflict:  # the patient's window closed: the line is left out
                    continue
                created += sent.created
    return created


def describe() -> str:
    return "the demo patients have care threads with the doctors they have seen"
