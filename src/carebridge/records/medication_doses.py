"""Doses of the medication list: marking one taken or skipped, the doses of a day, and the
adherence rate.

A dose is a slot of the schedule (``medication_schedule``): a medication's local time on a day
it is taken. Its row in ``record_medication_doses`` is written when it is reminded (status
``due``) or marked (``taken``/``skipped``), whichever comes first; a slot without a row is
computed from the schedule in the patient's current time zone.

Adherence over a range: the slots due in it that have come, each ``taken``, ``skipped`` or
``missed`` (unmarked ``MISSED_AFTER`` after its time); ``rate = taken / (taken + skipped +
missed)``, None when nothing was scheduled. A slot still within ``MISSED_AFTER`` and unmarked
is not counted yet (a dose is not missed the minute it is due).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.service import time_zone_of
from carebridge.platform.context import CallScope
from carebridge.platform.errors import Invalid, NotFound
from carebridge.records import access
from carebridge.records.medication_schedule import (
    MISSED_AFTER,
    due_at,
    is_slot,
    local_date_of,
    slots,
)
from carebridge.records.medications_schemas import (
    Adherence,
    DayOut,
    DoseIn,
    DoseOut,
    SlotStatus,
)
from carebridge.records.models import DoseStatus, Medication, MedicationDose, Section
from carebridge.records.policy import Subject

ADHERENCE_DAYS = 30  # the medication answer's range: the last 30 days

Slot = tuple[date, time]


def visible(subject: Subject) -> Select[Any]:
    return select(Medication).where(Medication.patient_id == subject.patient_id)


async def get_medication(
    db: AsyncSession, subject: Subject, medication_id: uuid.UUID, *, lock: bool = False
) -> Medication:
    """One medication of the subject's record (404 otherwise, as if it did not exist)."""
    statement = visible(subject).where(Medication.id == medication_id)
    if lock:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    row: Medication | None = await db.scalar(statement)
    if row is None:
        raise NotFound("No such medication.")
    return row


def slot_status(marked: str | None, at: datetime, now: datetime) -> SlotStatus:
    """What a person sees of a slot now (``DoseOut.status``)."""
    if marked in (DoseStatus.taken, DoseStatus.skipped):
        return DoseStatus(marked).value
    if at > now:
        return "upcoming"
    return "due" if now < at + MISSED_AFTER else "missed"


@dataclass
class Tally:
    taken: int = 0
    skipped: int = 0
    missed: int = 0

    @property
    def scheduled(self) -> int:
        return self.taken + self.skipped + self.missed

    @property
    def rate(self) -> float | None:
        return None if self.scheduled == 0 else self.taken / self.scheduled

    def add(self, other: Tally) -> None:
        self.taken += other.taken
        self.skipped += other.skipped
        self.missed += other.missed

    def out(self, since: datetime) -> Adherence:
        rate = None if self.rate is None else round(self.rate, 4)
        return Adherence(
            rate=rate,
            taken=self.taken,
            skipped=self.skipped,
            missed=self.missed,
            scheduled=self.scheduled,
            since=since,
        )


def tally(
    medication: Medication,
    zone: str,
    rows: Iterable[MedicationDose],
    since: datetime,
    until: datetime,
) -> Tally:
    """One medication's slots due in [since, until) counted (``until`` is at most now)."""
    statuses: dict[Slot, tuple[str, datetime]] = {
        (day, at_time): (DoseStatus.due.value, at)
        for day, at_time, at in slots(medication, zone, since, until)
    }
    for row in rows:
        if since <= row.due_at < until:
            statuses[(row.local_date, row.local_time)] = (row.status, row.due_at)
    result = Tally()
    for status, at in statuses.values():
        marked = slot_status(status, at, until)
        if marked == "taken":
            result.taken += 1
        elif marked == "skipped":
            result.skipped += 1
        elif marked == "missed":
            result.missed += 1
    return result


async def _doses_between(
    db: AsyncSession, medication_ids: Sequence[uuid.UUID], since: datetime, until: datetime
) -> dict[uuid.UUID, list[MedicationDose]]:
    rows = await db.scalars(
        select(MedicationDose).where(
            MedicationDose.medication_id.in_(medication_ids),
            MedicationDose.due_at >= since,
            MedicationDose.due_at < until,
        )
    )
    by_medication: dict[uuid.UUID, list[MedicationDose]] = {m: [] for m in medication_ids}
    for row in rows:
        by_medication[row.medication_id].append(row)
    return by_medication


async def tallies(
    db: AsyncSession,
    medications: Sequence[Medication],
    zone: str,
    since: datetime,
    until: datetime,
) -> dict[uuid.UUID, Tally]:
    """Each medication's adherence over [since, until) (``until`` at most now)."""
    if not medications:
        return {}
    rows = await _doses_between(db, [m.id for m in medications], since, until)
    return {m.id: tally(m, zone, rows[m.id], since, until) for m in medications}


async def adherence_rate(
    db: AsyncSession,
    patient_id: uuid.UUID,
    since: datetime,
    until: datetime,
    *,
    now: datetime | None = None,
) -> float | None:
    """The patient's adherence over [since, until) across their medications (each counted
    while it was taken: a stopped one has no slots after it was stopped), as the module says;
    None when nothing was scheduled. The health summary scores it."""
    until = min(until, now or datetime.now(UTC))
    if until <= since:
        return None
    zone = await time_zone_of(db, patient_id)
    medications = list(
        await db.scalars(
            select(Medication).where(
                Medication.patient_id == patient_id,
                Medication.starts_on <= local_date_of(until, zone),
                or_(
                    Medication.ends_on.is_(None),
                    Medication.ends_on >= local_date_of(since, zone) - timedelta(days=1),
                ),
                or_(Medication.stopped_at.is_(None), Medication.stopped_at >= since),
            )
        )
    )
    total = Tally()
    for one in (await tallies(db, medications, zone, since, until)).values():
        total.add(one)
    return total.rate


# -- marking ---------------------------------------------------------------------------------------


def _dose_out(
    medication: Medication,
    slot: Slot,
    zone: str,
    at: datetime,
    row: MedicationDose | None,
    now: datetime,
) -> DoseOut:
    at = at if row is None else row.due_at
    return DoseOut(
        medication_id=medication.id,
        name=medication.name,
        dose=medication.dose,
        local_date=slot[0],
        local_time=slot[1],
        time_zone=zone if row is None else row.time_zone,
        due_at=at,
        status=slot_status(None if row is None else row.status, at, now),
        reminded_at=None if row is None else row.reminded_at,
        marked_at=None if row is None else row.marked_at,
    )


async def mark(
    db: AsyncSession,
    scope: CallScope,
    subject: Subject,
    medication_id: uuid.UUID,
    body: DoseIn,
    *,
    now: datetime | None = None,
) -> DoseOut:
    """Mark one slot taken or skipped (again: the new mark replaces the old one)."""
    now = now or datetime.now(UTC)
    medication = await get_medication(db, subject, medication_id, lock=True)
    zone = await time_zone_of(db, subject.patient_id)
    if not is_slot(medication, body.local_date, body.local_time, zone):
        raise Invalid(
            f"{body.local_date} {body.local_time:%H:%M} is not a time of this medication on a "
            "day it is taken (see its times, weekdays and dates).",
            code="not_a_dose",
        )
    if body.local_date > local_date_of(now, zone):
        raise Invalid("A dose of a day still ahead cannot be marked yet.", code="dose_in_future")
    await access.check_write(db, scope, subject, Section.medications, medication.id, "dose")
    at = due_at(body.local_date, body.local_time, zone)
    statement = (
        insert(MedicationDose)
        .values(
            medication_id=medication.id,
            patient_id=medication.patient_id,
            local_date=body.local_date,
            local_time=body.local_time,
            time_zone=zone,
            due_at=at,
            status=body.status.value,
            marked_at=now,
        )
        .on_conflict_do_update(
            index_elements=["medication_id", "local_date", "local_time"],
            set_={"status": body.status.value, "marked_at": now, "updated_at": now},
        )
        .returning(MedicationDose)
        .execution_options(populate_existing=True)
    )
    row = (await db.scalars(statement)).one()
    return _dose_out(medication, (row.local_date, row.local_time), zone, row.due_at, row, now)


async def day(
    db: AsyncSession,
    scope: CallScope,
    subject: Subject,
    local_day: date | None,
    *,
    now: datetime | None = None,
) -> DayOut:
    """The doses of a local day (today in the patient's time zone by default), by time."""
    now = now or datetime.now(UTC)
    await access.check_read(db, scope, subject, Section.medications)
    zone = await time_zone_of(db, subject.patient_id)
    local_day = local_day or local_date_of(now, zone)
    medications = list(
        await db.scalars(
            visible(subject).where(
                Medication.starts_on <= local_day,
                or_(Medication.ends_on.is_(None), Medication.ends_on >= local_day),
            )
        )
    )
    by_id = {m.id: m for m in medications}
    rows = await db.scalars(
        select(MedicationDose).where(
            MedicationDose.medication_id.in_(list(by_id)), MedicationDose.local_date == local_day
        )
    )
    marked = {(row.medication_id, row.local_time): row for row in rows}
    doses = [
        _dose_out(m, (local_day, t), zone, due_at(local_day, t, zone), marked.get((m.id, t)), now)
        for m in medications
        for t in m.times
        if is_slot(m, local_day, t, zone) or (m.id, t) in marked
    ]
    doses.sort(key=lambda d: (d.due_at, d.name.lower(), d.medication_id))
    return DayOut(date=local_day, time_zone=zone, doses=doses)
