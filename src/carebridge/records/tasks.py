"""Background jobs of the health record: dose reminders.

Every minute, on every worker: each medication with reminders on has its slots whose time has
come in the patient's CURRENT time zone (``users.time_zone``) within the last
``CATCH_UP`` (a worker down for a few minutes still reminds; a day-old slot is not reminded).
A slot is claimed by inserting its dose row (status ``due``, ``reminded_at``) with ``ON CONFLICT
DO NOTHING`` on its unique index (medication, local date, local time), in the same transaction
as its ``medication_due`` notification: two workers, a re-run, a time zone change or a dose
already marked never remind it twice. The slot's instant follows ``medication_schedule``'s
daylight-saving rules.

The clock is read in Python and passed in so that the tests can move it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta

import structlog
from procrastinate import JobContext
from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.models import User
from carebridge.notifications.service import notify
from carebridge.platform.db import Database
from carebridge.platform.jobs import DEFAULT_RETRY, job_app, task_resources
from carebridge.records.kinds import MEDICATION_DUE
from carebridge.records.medication_schedule import slots
from carebridge.records.models import DoseStatus, Medication, MedicationDose

log = structlog.get_logger(__name__)

QUEUE = "records"
CATCH_UP = timedelta(minutes=15)
BATCH = 500


async def _remind(
    db: AsyncSession,
    medication: Medication,
    zone: str,
    slot: tuple[date, time, datetime],
    now: datetime,
) -> bool:
    """Claim one slot and tell the patient; False when it was claimed (or marked) already."""
    local_date, local_time, at = slot
    claimed = await db.scalar(
        insert(MedicationDose)
        .values(
            medication_id=medication.id,
            patient_id=medication.patient_id,
            local_date=local_date,
            local_time=local_time,
            time_zone=zone,
            due_at=at,
            status=DoseStatus.due.value,
            reminded_at=now,
        )
        .on_conflict_do_nothing(index_elements=["medication_id", "local_date", "local_time"])
        .returning(MedicationDose.id)
    )
    if claimed is None:
        return False
    # No medicine's name: the reminder may show on a lock screen.
    await notify(
        db,
        medication.patient_id,
        MEDICATION_DUE.name,
        "Time for your medication",
        f"It is {local_time:%H:%M}: time to take a dose. Mark it taken or skipped in your "
        "health record.",
        data={
            "medication_id": str(medication.id),
            "local_date": local_date.isoformat(),
            "local_time": f"{local_time:%H:%M}",
        },
        link="/records/medications",
    )
    return True


async def _remindable(
    db: AsyncSession, since: datetime, now: datetime, after: uuid.UUID | None
) -> list[tuple[Medication, str]]:
    """The next batch of medications that may have a slot in [since, now], with the patient's
    current time zone (a day of margin on the dates: which local day it is depends on it)."""
    statement = (
        select(Medication, User.time_zone)
        .join(User, User.id == Medication.patient_id)
        .where(
            Medication.reminders.is_(True),
            Medication.stopped_at.is_(None),
            func.cardinality(Medication.times) > 0,
            Medication.starts_on <= (now + timedelta(days=1)).date(),
            or_(
                Medication.ends_on.is_(None),
                Medication.ends_on >= (since - timedelta(days=1)).date(),
            ),
        )
        .order_by(Medication.id)
        .limit(BATCH)
    )
    if after is not None:
        statement = statement.where(Medication.id > after)
    return [(row[0], row[1] or "UTC") for row in await db.execute(statement)]


async def send_dose_reminders(database: Database, now: datetime | None = None) -> int:
    """Remind every dose whose time came in the last ``CATCH_UP``; returns how many. Each
    batch of medications is claimed and told in one transaction."""
    now = now or datetime.now(UTC)
    since, until = now - CATCH_UP, now + timedelta(microseconds=1)
    total = 0
    after: uuid.UUID | None = None
    while True:
        async with database.transaction() as db:
            batch = await _remindable(db, since, now, after)
            for medication, zone in batch:
                for slot in slots(medication, zone, since, until):
                    total += await _remind(db, medication, zone, slot, now)
        if len(batch) < BATCH:
            return total
        after = batch[-1][0].id


@job_app.periodic(cron="* * * * *", periodic_id="minutely")
@job_app.task(
    name="records.send_dose_reminders", queue=QUEUE, pass_context=True, retry=DEFAULT_RETRY
)
async def send_dose_reminders_task(context: JobContext, timestamp: int) -> None:
    """Remind the doses whose time has come."""
    sent = await send_dose_reminders(task_resources(context).database)
    if sent:
        log.info("dose_reminders_sent", count=sent)
