"""What the people of an appointment are told, and what is recorded: notices through the
outbox (in the reader's time zone), the audit trail, reminder rows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import User
from carebridge.compliance.service import record
from carebridge.config import Settings
from carebridge.notifications.service import notify
from carebridge.platform.context import RequestContext
from carebridge.scheduling.kinds import APPOINTMENT_CHANGED
from carebridge.scheduling.models import Appointment, AppointmentStatus, Reminder

TYPE_LABELS = {"video": "video call", "in_person": "visit at the clinic", "chat": "chat"}

# Title and verb of the notice each move sends.
WORDS: dict[str, tuple[str, str]] = {
    "confirm": ("Appointment confirmed", "confirmed"),
    "start": ("Your appointment is starting", "started"),
    "complete": ("Appointment completed", "completed"),
    "no_show": ("Appointment missed", "marked as missed"),
    "cancel": ("Appointment cancelled", "cancelled"),
    "reschedule": ("Appointment moved", "moved"),
    "paid": ("Appointment paid and booked", "paid and booked"),
    "release": ("Booking released", "released: it was not paid in time"),
}


@dataclass(frozen=True)
class Person:
    name: str
    time_zone: str


async def plan_reminders(
    db: AsyncSession, settings: Settings, appointment: Appointment, *, fresh: bool = False
) -> None:
    """(Re)write the reminders of an appointment for the patient and the doctor. Sent ones go
    too: they were about the old time (and would collide with the new rows' keys). ``fresh``:
    a new appointment, with none to replace."""
    if not fresh:
        await db.execute(delete(Reminder).where(Reminder.appointment_id == appointment.id))
    for person, minutes, due in reminders_of(settings, appointment):
        db.add(
            Reminder(
                appointment_id=appointment.id,
                recipient_id=person,
                minutes_before=minutes,
                due_at=due,
            )
        )
    await db.flush()


def reminders_of(
    settings: Settings, appointment: Appointment
) -> list[tuple[uuid.UUID, int, datetime]]:
    """(recipient, minutes before, due) of each reminder still ahead, patient and doctor."""
    now = datetime.now(UTC)
    rows = []
    for minutes in sorted(set(settings.reminder_minutes_before)):
        due = appointment.starts_at - timedelta(minutes=minutes)
        if due > now:
            rows += [
                (person, minutes, due) for person in (appointment.patient_id, appointment.doctor_id)
            ]
    return rows


def local_time(at: datetime, zone: str) -> str:
    """ "Mon 30 Mar 2026, 09:00 CEST" in the reader's time zone."""
    return at.astimezone(ZoneInfo(zone)).strftime("%a %d %b %Y, %H:%M %Z")


async def people_of(db: AsyncSession, appointment: Appointment) -> dict[uuid.UUID, Person]:
    rows = await db.execute(
        select(User.id, User.name, User.time_zone).where(
            User.id.in_((appointment.doctor_id, appointment.patient_id))
        )
    )
    return {row.id: Person(row.name, row.time_zone) for row in rows}


async def tell(
    db: AsyncSession,
    appointment: Appointment,
    person: uuid.UUID,
    title: str,
    verb: str,
    people: dict[uuid.UUID, Person] | None = None,
) -> None:
    people = people or await people_of(db, appointment)
    other = appointment.doctor_id if person == appointment.patient_id else appointment.patient_id
    with_whom = people[other].name if other in people else "someone"
    zone = people[person].time_zone if person in people else "UTC"
    body = (
        f"The {TYPE_LABELS.get(appointment.type, appointment.type)} with {with_whom} on "
        f"{local_time(appointment.starts_at, zone)} was {verb}."
    )
    if appointment.cancel_reason and appointment.status == AppointmentStatus.cancelled:
        body += f" Reason: {appointment.cancel_reason}"
    await notify(
        db,
        person,
        APPOINTMENT_CHANGED.name,
        title,
        body,
        data={"appointment_id": str(appointment.id), "status": appointment.status},
        link=f"/appointments/{appointment.id}",
    )


async def audit(
    db: AsyncSession,
    actor: Actor | None,
    appointment: Appointment,
    action: str,
    context: RequestContext,
) -> None:
    await record(db, **audit_fields(actor, appointment, action, context))


def audit_fields(
    actor: Actor | None, appointment: Appointment, action: str, context: RequestContext
) -> dict[str, Any]:
    """What the audit row of a change to an appointment says."""
    return {
        "action": action,
        "actor_id": None if actor is None else actor.id,
        "actor_role": None if actor is None else str(actor.role),
        "resource_type": "appointment",
        "resource_id": appointment.id,
        "context": context,
        "status": appointment.status,
    }
