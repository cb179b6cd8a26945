"""Background jobs of scheduling: reminders before appointments and the sweep of unpaid holds.

Both run every minute on every worker and are safe to run twice, concurrently, or again after a
crash. A reminder is claimed (``sent_at`` set) by the same transaction that writes its
notification, so it is sent exactly once: a second run finds it claimed, a concurrent one skips
the locked rows, and a worker that dies mid-batch rolls both back for the next run.

The clock is read in Python and passed to SQL (rather than PostgreSQL's ``now()``) so that the
tests can move it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from procrastinate import JobContext
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from carebridge.accounts.models import User
from carebridge.config import Settings
from carebridge.notifications.service import notify
from carebridge.platform.db import Database
from carebridge.platform.jobs import DEFAULT_RETRY, job_app, task_resources
from carebridge.platform.times import local_time
from carebridge.scheduling import moves, notices
from carebridge.scheduling.kinds import APPOINTMENT_REMINDER
from carebridge.scheduling.models import Appointment, AppointmentStatus
from carebridge.scheduling.queries import CLAIM_DUE_REMINDERS, DueReminders

log = structlog.get_logger(__name__)

QUEUE = "scheduling"
REMINDER_BATCH = 200

_Doctor = aliased(User)
_Patient = aliased(User)
_Recipient = aliased(User)


@dataclass(frozen=True)
class Claimed:
    appointment_id: uuid.UUID
    recipient_id: uuid.UUID
    minutes_before: int
    due_at: datetime


def lead_time(minutes: int) -> str:
    """ "in 24 hours", "in 1 hour", "in 30 minutes"."""
    if minutes >= 60 and minutes % 60 == 0:
        hours = minutes // 60
        return f"in {hours} hour{'s' if hours != 1 else ''}"
    return f"in {minutes} minute{'s' if minutes != 1 else ''}"


def _when(row: Claimed, starts_at: datetime, now: datetime) -> str:
    """The promised lead time, or the true one when the reminder goes out noticeably late
    (a worker was down): never "in 24 hours" for an appointment 20 hours away."""
    grace = max(5.0, row.minutes_before / 10)
    if (now - row.due_at).total_seconds() / 60 <= grace:
        return lead_time(row.minutes_before)
    left = int((starts_at - now).total_seconds() // 60)
    return lead_time(left // 60 * 60 if left >= 120 else max(left, 1))


def _nearest_per_person(claimed: list[Claimed]) -> list[Claimed]:
    """When a late run finds several reminders of one appointment due for one person (the
    24-hour and the 1-hour one after a long outage), only the nearest is worth sending."""
    nearest: dict[tuple[uuid.UUID, uuid.UUID], Claimed] = {}
    for row in claimed:
        key = (row.appointment_id, row.recipient_id)
        if key not in nearest or row.minutes_before < nearest[key].minutes_before:
            nearest[key] = row
    return list(nearest.values())


async def _send(db: AsyncSession, row: Claimed, now: datetime) -> bool:
    found = (
        await db.execute(
            select(Appointment, _Doctor.name, _Patient.name, _Recipient.time_zone)
            .join(_Doctor, _Doctor.id == Appointment.doctor_id)
            .join(_Patient, _Patient.id == Appointment.patient_id)
            .join(_Recipient, _Recipient.id == row.recipient_id)
            .where(Appointment.id == row.appointment_id)
        )
    ).one_or_none()
    if found is None:
        return False
    appointment, doctor, patient, zone = found
    if appointment.status != AppointmentStatus.scheduled or appointment.starts_at <= now:
        # Cancelled, unpaid or already under way; or so late that it has begun: skipped.
        return False
    with_whom = doctor if row.recipient_id == appointment.patient_id else patient
    what = notices.TYPE_LABELS.get(appointment.type, appointment.type)
    when = _when(row, appointment.starts_at, now)
    at = local_time(appointment.starts_at, zone or "UTC")
    body = f"Your {what} with {with_whom} is {when}: {at}."
    data: dict[str, object] = {
        "appointment_id": str(appointment.id),
        "minutes_before": row.minutes_before,
    }
    link = f"/appointments/{appointment.id}"
    call = notices.call_notice(appointment)
    if call is not None:  # a video appointment: straight to its call, the check mentioned
        link, words, extra = call
        body = f"{body} {words}"
        data |= extra
    await notify(
        db,
        row.recipient_id,
        APPOINTMENT_REMINDER.name,
        f"Appointment {when}",
        body,
        data=data,
        link=link,
    )
    return True


async def _send_batch(database: Database, now: datetime) -> tuple[int, int]:
    """(claimed, sent) of one batch, claimed and told in one transaction."""
    async with database.transaction() as db:
        due = DueReminders(now=now, batch=REMINDER_BATCH)
        rows = (await db.execute(CLAIM_DUE_REMINDERS, due._asdict())).all()
        claimed = [
            Claimed(r.appointment_id, r.recipient_id, r.minutes_before, r.due_at) for r in rows
        ]
        sent = 0
        for row in _nearest_per_person(claimed):
            sent += await _send(db, row, now)
    return len(claimed), sent


async def send_due_reminders(database: Database, now: datetime | None = None) -> int:
    """Send every reminder that is due; returns how many were sent (skipped ones are claimed
    too, so they are not looked at again)."""
    now = now or datetime.now(UTC)
    total = 0
    while True:
        claimed, sent = await _send_batch(database, now)
        total += sent
        if claimed < REMINDER_BATCH:
            return total


async def release_lapsed_holds(database: Database, settings: Settings) -> int:
    """Release every unpaid hold past its time, a batch per transaction; returns how many."""
    total = 0
    while True:
        async with database.transaction() as db:
            released = await moves.expire_holds(db, settings)
        total += released
        if released == 0:
            return total


@job_app.periodic(cron="* * * * *", periodic_id="minutely")
@job_app.task(name="scheduling.send_reminders", queue=QUEUE, pass_context=True, retry=DEFAULT_RETRY)
async def send_reminders_task(context: JobContext, timestamp: int) -> None:
    """Send the appointment reminders that are due."""
    sent = await send_due_reminders(task_resources(context).database)
    if sent:
        log.info("appointment_reminders_sent", count=sent)


@job_app.periodic(cron="* * * * *", periodic_id="minutely")
@job_app.task(
    name="scheduling.release_lapsed_holds", queue=QUEUE, pass_context=True, retry=DEFAULT_RETRY
)
async def release_lapsed_holds_task(context: JobContext, timestamp: int) -> None:
    """Give back the slots of bookings that were not paid in time."""
    resources = task_resources(context)
    released = await release_lapsed_holds(resources.database, resources.settings)
    if released:
        log.info("unpaid_holds_released", count=released)
