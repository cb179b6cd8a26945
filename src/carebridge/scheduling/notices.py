"""What the people of an appointment are told, and what is recorded: notices through the
outbox (in the reader's time zone), the audit trail, reminder rows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import Role, User
from carebridge.compliance.service import record
from carebridge.config import Settings
from carebridge.notifications.models import Priority
from carebridge.notifications.service import notify
from carebridge.platform.context import RequestContext
from carebridge.platform.times import local_time
from carebridge.scheduling.kinds import APPOINTMENT_CHANGED
from carebridge.scheduling.models import Appointment, AppointmentStatus, AppointmentType, Reminder

TYPE_LABELS = {"video": "video call", "in_person": "visit at the clinic", "chat": "chat"}
# The notices that confirm a booking (as their reader sees it): for a video appointment they
# lead to its call and mention the pre-call check, as its reminders do.
CONFIRMATIONS = frozenset({"booked", "paid", "confirm"})
CALL_CHECK = "/call-check"
CALL_CHECK_WORDS = (
    "Before the call, check your camera, microphone and connection on CareBridge's pre-call "
    f"check page ({CALL_CHECK})."
)


def call_notice(appointment: Appointment) -> tuple[str, str, dict[str, str]] | None:
    """For a video appointment: the link of its confirmations and reminders (its call page,
    docs/calls.md), the words about the pre-call check added to their body, and the data that
    lets their email link that check (``call_check``). None for the other types."""
    if appointment.type != AppointmentType.video:
        return None
    return f"/appointments/{appointment.id}/call", CALL_CHECK_WORDS, {"call_check": CALL_CHECK}


class By(StrEnum):
    """How the reader of a notice stands to whoever made the change."""

    you = "you"  # the reader did it (a patient's own booking, move or cancellation)
    other = "other"  # the other person of the appointment
    clinic = "clinic"  # an administrator
    system = "system"  # a payment, or the sweep of unpaid holds


# Title and body of each notice, by the change as the reader sees it and who made it. Bodies
# name {what} (the type), {other} (the other person), {when} (the time, in the reader's zone),
# {was} (the time before a move) and {hold} (when an unpaid hold lapses). The reason for the
# visit never appears.
WORDS: dict[tuple[str, By], tuple[str, str]] = {
    ("booked", By.you): ("Appointment booked", "You booked a {what} with {other} on {when}."),
    ("booked", By.other): ("New appointment", "{other} booked a {what} with you on {when}."),
    ("held", By.you): (
        "Appointment held: pay to confirm",
        "You booked a {what} with {other} on {when}. It is held for you until {hold}: pay by "
        "then to confirm it, or the time is released.",
    ),
    ("paid", By.system): (
        "Appointment paid and booked",
        "Your payment arrived: your {what} with {other} on {when} is booked.",
    ),
    ("confirm", By.other): (
        "Appointment confirmed",
        "{other} confirmed your {what} on {when}; the fee is paid at the clinic.",
    ),
    ("start", By.other): (
        "Your appointment is starting",
        "{other} has started your {what} of {when}.",
    ),
    ("complete", By.other): ("Appointment completed", "{other} completed your {what} of {when}."),
    ("no_show", By.other): (
        "Appointment missed",
        "{other} marked your {what} of {when} as missed.",
    ),
    ("cancel", By.you): (
        "Appointment cancelled",
        "You cancelled your {what} with {other} on {when}.",
    ),
    ("cancel", By.other): ("Appointment cancelled", "{other} cancelled your {what} on {when}."),
    ("cancel", By.clinic): (
        "Appointment cancelled",
        "The clinic cancelled your {what} with {other} on {when}.",
    ),
    ("reschedule", By.you): (
        "Appointment moved",
        "You moved your {what} with {other} to {when} (it was {was}).",
    ),
    ("reschedule", By.other): (
        "Appointment moved",
        "{other} moved your {what} to {when} (it was {was}).",
    ),
    ("release", By.system): (
        "Booking released",
        "Your hold on the {what} with {other} on {when} was released: {reason}.",
    ),
}
# Said to the patient when the system releases an unpaid hold, by ``cancel_reason``.
RELEASE_REASONS = {
    "not paid in time": "it was not paid in time",
    "payment failed": "the payment did not go through",
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


async def people_of(db: AsyncSession, appointment: Appointment) -> dict[uuid.UUID, Person]:
    rows = await db.execute(
        select(User.id, User.name, User.time_zone).where(
            User.id.in_((appointment.doctor_id, appointment.patient_id))
        )
    )
    return {row.id: Person(row.name, row.time_zone) for row in rows}


def _by(actor: Actor | None, reader: uuid.UUID) -> By:
    if actor is None:
        return By.system
    if actor.id == reader:
        return By.you
    return By.clinic if actor.role == Role.admin else By.other


def audience(
    appointment: Appointment, change: str, actor: Actor | None
) -> list[tuple[uuid.UUID, str, By]]:
    """Who is told of ``change`` (a move, or ``booked``), as what, and by whom: (reader, the
    change as they see it, who made it).

    - The patient is told of every change of their appointment, their own booking, move and
      cancellation included: a receipt with the time, to keep (an unpaid booking: that it is
      held, and until when).
    - The doctor is told of changes to an appointment that has held their time firmly
      (``confirmed_at``: booked without payment, paid, or confirmed), except their own moves:
      of an unpaid hold that may lapse in minutes they hear once it is paid ("New
      appointment"), and of its release not at all.
    - Nobody is told of their own confirm, start, complete or no-show: they made it on screen.
      Admins are not told; they act for the clinic, and both people hear it from "the clinic".
    """
    patient, doctor = appointment.patient_id, appointment.doctor_id
    if change == "booked" and appointment.status == AppointmentStatus.pending_payment:
        readers = [(patient, "held", By.you)]
    else:
        readers = [(patient, change, _by(actor, patient))]
    if appointment.confirmed_at is not None and (actor is None or actor.id != doctor):
        if change == "paid":
            readers.append((doctor, "booked", By.other))  # news to the doctor: a booking
        else:
            readers.append((doctor, change, _by(actor, doctor)))
    return readers


async def announce(
    db: AsyncSession,
    appointment: Appointment,
    change: str,
    actor: Actor | None,
    *,
    people: dict[uuid.UUID, Person] | None = None,
    was: datetime | None = None,
) -> None:
    """Tell the people of ``appointment`` about ``change`` (see :func:`audience`), each in their
    own time zone, through the outbox: by every channel their preferences allow for the kind
    ``appointment_changed`` (in-app and email always)."""
    people = people or await people_of(db, appointment)
    for reader, seen_as, by in audience(appointment, change, actor):
        title, body = WORDS[(seen_as, by)]
        other = (
            appointment.doctor_id if reader == appointment.patient_id else appointment.patient_id
        )
        zone = people[reader].time_zone if reader in people else "UTC"
        body = body.format(
            what=TYPE_LABELS.get(appointment.type, appointment.type),
            other=people[other].name if other in people else "someone",
            when=local_time(appointment.starts_at, zone),
            was=local_time(was, zone) if was else "",
            hold=local_time(appointment.hold_expires_at, zone)
            if appointment.hold_expires_at
            else "",
            reason=RELEASE_REASONS.get(appointment.cancel_reason or "", "it was not paid"),
        )
        # Staff must give the patient a reason. A patient's own (optional) reason is not copied
        # into messages: it may be about their health, and emails leave the system.
        staff = actor is not None and actor.role != Role.patient
        if change == "cancel" and staff and appointment.cancel_reason:
            body += f" Reason: {appointment.cancel_reason}"
        data = {"appointment_id": str(appointment.id), "status": appointment.status}
        link = f"/appointments/{appointment.id}"
        call = call_notice(appointment) if seen_as in CONFIRMATIONS else None
        if call is not None:
            link, words, extra = call
            body = f"{body} {words}"
            data |= extra
        await notify(
            db,
            reader,
            APPOINTMENT_CHANGED.name,
            title,
            body,
            data={**data, "change": seen_as},
            link=link,
            priority=Priority.urgent if change == "start" else Priority.normal,
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
        "subject_id": appointment.patient_id,
        "context": context,
        "status": appointment.status,
    }
