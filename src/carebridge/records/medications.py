"""The medication list: what the patient takes, when (``medication_schedule``), who prescribed it,
and how well they keep to it (``medication_doses``: doses and adherence).

The patient writes their list; a clinician reads it on a basis of ``policy`` (audited). An
issued prescription of the patient's is added in one step, one medication per line, once
(``uq_record_medications_line``). Stopping a medication keeps it in the list with its doses
(``stopped_at``: no slots, no reminders after it); deleting removes one entered in error with
its doses.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, or_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.service import names_of, time_zone_of
from carebridge.platform.context import CallScope
from carebridge.platform.errors import Conflict, Invalid
from carebridge.platform.pagination import Page, keyset_page
from carebridge.prescriptions import service as prescriptions
from carebridge.prescriptions.models import PrescriptionLine, PrescriptionStatus
from carebridge.records import access
from carebridge.records.medication_doses import (
    ADHERENCE_DAYS,
    Tally,
    get_medication,
    tallies,
    visible,
)
from carebridge.records.medication_schedule import ends_on_for, local_date_of, times_for
from carebridge.records.medications_schemas import (
    FromPrescriptionOut,
    MedicationIn,
    MedicationOut,
    MedicationPatch,
)
from carebridge.records.models import Medication, Section
from carebridge.records.policy import Subject
from carebridge.records.sealed import MEDICATION_INSTRUCTIONS

NEEDS_TIMES = (
    "Set the times of day you take it: the prescription says “{frequency}”, which is not a time "
    "of day, so there are no reminders until you do."
)
_ACTIVE, _ENDED = "a", "e"  # the list's two runs, in its cursor


def is_active(today: date) -> ColumnElement[bool]:
    """Not stopped and not past its last day (``today`` in the patient's time zone)."""
    return and_(
        Medication.stopped_at.is_(None),
        or_(Medication.ends_on.is_(None), Medication.ends_on >= today),
    )


def _active(row: Medication, today: date) -> bool:
    return row.stopped_at is None and (row.ends_on is None or row.ends_on >= today)


async def outs(
    db: AsyncSession,
    scope: CallScope,
    rows: Sequence[Medication],
    zone: str,
    now: datetime,
) -> list[MedicationOut]:
    """The answers of some medications of one patient, with their adherence."""
    since = now - timedelta(days=ADHERENCE_DAYS)
    counted = await tallies(db, rows, zone, since, now)
    names = await names_of(db, {r.prescribed_by_id for r in rows if r.prescribed_by_id})
    today = local_date_of(now, zone)
    return [
        MedicationOut(
            id=row.id,
            patient_id=row.patient_id,
            name=row.name,
            dose=row.dose,
            route=row.route,
            times=sorted(row.times),
            weekdays=sorted(row.weekdays),
            starts_on=row.starts_on,
            ends_on=row.ends_on,
            reminders=row.reminders,
            instructions=scope.keyring.open_text(MEDICATION_INSTRUCTIONS, row),
            prescribed_by_id=row.prescribed_by_id,
            prescribed_by_name=names.get(row.prescribed_by_id) if row.prescribed_by_id else None,
            prescription_id=row.prescription_id,
            prescription_line_id=row.prescription_line_id,
            recorded_by_id=row.recorded_by_id,
            stopped_at=row.stopped_at,
            active=_active(row, today),
            schedule_note=_schedule_note(row),
            adherence=counted.get(row.id, Tally()).out(since),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )
        for row in rows
    ]


def _schedule_note(row: Medication) -> str | None:
    if row.times or row.prescription_line_id is None:
        return None
    return "Set the times of day you take it to get reminders."


async def _one(
    db: AsyncSession, scope: CallScope, subject: Subject, row: Medication, now: datetime
) -> MedicationOut:
    zone = await time_zone_of(db, subject.patient_id)
    return (await outs(db, scope, [row], zone, now))[0]


# -- reading --------------------------------------------------------------------------------------


async def read(
    db: AsyncSession,
    scope: CallScope,
    subject: Subject,
    medication_id: uuid.UUID,
    *,
    now: datetime | None = None,
) -> MedicationOut:
    await access.check_read(db, scope, subject, Section.medications)
    row = await get_medication(db, subject, medication_id)
    return await _one(db, scope, subject, row, now or datetime.now(UTC))


def _split_cursor(cursor: str | None) -> tuple[str, str | None]:
    if cursor is None:
        return _ACTIVE, None
    run, _, inner = cursor.partition(".")
    if run not in (_ACTIVE, _ENDED):
        raise Invalid("This cursor is not one of the list's.", code="bad_cursor")
    return run, inner or None


async def _both_runs(
    db: AsyncSession, subject: Subject, today: date, cursor: str | None, limit: int
) -> Page[Medication]:
    """Active ones first, then stopped or ended ones; newest first in each run."""
    run, inner = _split_cursor(cursor)
    items: list[Medication] = []
    if run == _ACTIVE:
        statement = visible(subject).where(is_active(today))
        page = await keyset_page(db, statement, Medication, cursor=inner, limit=limit)
        if page.next_cursor is not None:
            return Page(items=page.items, next_cursor=f"{_ACTIVE}.{page.next_cursor}")
        items, inner = list(page.items), None
    ended = visible(subject).where(~is_active(today))
    room = limit - len(items)
    if room == 0:
        more = await db.scalar(ended.with_only_columns(Medication.id).limit(1))
        return Page(items=items, next_cursor=None if more is None else f"{_ENDED}.")
    page = await keyset_page(db, ended, Medication, cursor=inner, limit=room)
    next_cursor = None if page.next_cursor is None else f"{_ENDED}.{page.next_cursor}"
    return Page(items=items + list(page.items), next_cursor=next_cursor)


async def list_medications(
    db: AsyncSession,
    scope: CallScope,
    subject: Subject,
    *,
    active: bool | None,
    cursor: str | None,
    limit: int,
    now: datetime | None = None,
) -> Page[MedicationOut]:
    """Active first (newest first), then stopped or ended ones; ``active`` keeps one run."""
    now = now or datetime.now(UTC)
    await access.check_read(db, scope, subject, Section.medications)
    zone = await time_zone_of(db, subject.patient_id)
    today = local_date_of(now, zone)
    if active is None:
        page = await _both_runs(db, subject, today, cursor, limit)
    else:
        wanted = is_active(today) if active else ~is_active(today)
        statement = visible(subject).where(wanted)
        page = await keyset_page(db, statement, Medication, cursor=cursor, limit=limit)
    return Page(items=await outs(db, scope, page.items, zone, now), next_cursor=page.next_cursor)


# -- writing --------------------------------------------------------------------------------------


def _check_dates(starts_on: date, ends_on: date | None) -> None:
    if ends_on is not None and ends_on < starts_on:
        raise Invalid(
            "The last day (ends_on) cannot be before the first.", code="ends_before_start"
        )


async def add(
    db: AsyncSession,
    scope: CallScope,
    subject: Subject,
    body: MedicationIn,
    *,
    now: datetime | None = None,
) -> MedicationOut:
    now = now or datetime.now(UTC)
    zone = await time_zone_of(db, subject.patient_id)
    starts_on = body.starts_on or local_date_of(now, zone)
    _check_dates(starts_on, body.ends_on)
    await scope.unlock(db, subject.patient_id)
    row = Medication(
        id=uuid.uuid4(),
        patient_id=subject.patient_id,
        name=body.name,
        dose=body.dose,
        route=body.route,
        times=body.times,
        weekdays=body.weekdays,
        starts_on=starts_on,
        ends_on=body.ends_on,
        reminders=body.reminders,
        recorded_by_id=subject.actor.id,
    )
    row.instructions_sealed = scope.keyring.seal(MEDICATION_INSTRUCTIONS, row, body.instructions)
    await access.check_write(db, scope, subject, Section.medications, row.id, "create")
    db.add(row)
    await db.flush()
    await db.refresh(row)
    return await _one(db, scope, subject, row, now)


async def update(
    db: AsyncSession,
    scope: CallScope,
    subject: Subject,
    medication_id: uuid.UUID,
    body: MedicationPatch,
    *,
    now: datetime | None = None,
) -> MedicationOut:
    now = now or datetime.now(UTC)
    row = await get_medication(db, subject, medication_id, lock=True)
    changes = body.model_dump(exclude_unset=True)
    for required in ("name", "times", "weekdays", "starts_on", "reminders"):
        if required in changes and changes[required] is None:
            raise Invalid(f"{required} cannot be cleared.", code="required_field")
    _check_dates(changes.get("starts_on", row.starts_on), changes.get("ends_on", row.ends_on))
    await access.check_write(db, scope, subject, Section.medications, row.id, "update")
    for field in (
        "name",
        "dose",
        "route",
        "times",
        "weekdays",
        "starts_on",
        "ends_on",
        "reminders",
    ):
        if field in changes:
            setattr(row, field, changes[field])
    if "instructions" in changes:
        sealed = scope.keyring.seal(MEDICATION_INSTRUCTIONS, row, changes["instructions"])
        row.instructions_sealed = sealed
    await db.flush()
    await db.refresh(row)
    return await _one(db, scope, subject, row, now)


async def stop(
    db: AsyncSession,
    scope: CallScope,
    subject: Subject,
    medication_id: uuid.UUID,
    *,
    now: datetime | None = None,
) -> MedicationOut:
    """Stop taking it now: it stays in the list (with its doses and adherence), without slots
    or reminders from now on. Stopping a stopped one changes nothing."""
    now = now or datetime.now(UTC)
    row = await get_medication(db, subject, medication_id, lock=True)
    if row.stopped_at is None:
        await access.check_write(db, scope, subject, Section.medications, row.id, "stop")
        row.stopped_at = now
        await db.flush()
        await db.refresh(row)
    return await _one(db, scope, subject, row, now)


async def delete(
    db: AsyncSession, scope: CallScope, subject: Subject, medication_id: uuid.UUID
) -> None:
    """Remove one entered in error, with its doses."""
    row = await get_medication(db, subject, medication_id, lock=True)
    await access.check_write(db, scope, subject, Section.medications, row.id, "delete")
    await db.delete(row)


# -- from a prescription --------------------------------------------------------------------------


def _from_line(
    scope: CallScope,
    subject: Subject,
    doctor_id: uuid.UUID,
    line: PrescriptionLine,
    starts_on: date,
) -> dict[str, Any]:
    row = Medication(id=uuid.uuid4())
    times = times_for(line.frequency)
    notes = [line.instructions] if line.instructions else []
    if line.frequency and not times:
        notes.append(NEEDS_TIMES.format(frequency=line.frequency))
    name = f"{line.name} {line.strength}" if line.strength else line.name
    return {
        "id": row.id,
        "patient_id": subject.patient_id,
        "name": name[:200],
        "dose": line.dose,
        "route": line.route,
        "times": times,
        "weekdays": [],
        "starts_on": starts_on,
        "ends_on": ends_on_for(starts_on, line.duration),
        "prescribed_by_id": doctor_id,
        "prescription_id": line.prescription_id,
        "prescription_line_id": line.id,
        "recorded_by_id": subject.actor.id,
        "instructions_sealed": scope.keyring.seal(
            MEDICATION_INSTRUCTIONS, row, "\n".join(notes) or None, patient=subject.patient_id
        ),
    }


async def from_prescription(
    db: AsyncSession,
    scope: CallScope,
    subject: Subject,
    prescription_id: uuid.UUID,
    *,
    now: datetime | None = None,
) -> FromPrescriptionOut:
    """Add each line of an issued prescription of the patient's to their list, starting today
    (404: not theirs, or a draft; 409 ``prescription_cancelled``). Adding it again adds nothing
    new and answers the same medications."""
    now = now or datetime.now(UTC)
    prescription, lines = await prescriptions.read_lines(db, scope, subject.actor, prescription_id)
    if prescription.status != PrescriptionStatus.issued:
        raise Conflict(
            "This prescription was cancelled: it cannot be added to your medications.",
            code="prescription_cancelled",
        )
    zone = await time_zone_of(db, subject.patient_id)
    starts_on = local_date_of(now, zone)
    doctor_id = prescription.doctor_id
    await scope.unlock(db, subject.patient_id)
    values = [_from_line(scope, subject, doctor_id, line, starts_on) for line in lines]
    added: list[uuid.UUID] = []
    if values:
        statement = (
            insert(Medication)
            .values(values)
            .on_conflict_do_nothing(
                index_elements=["patient_id", "prescription_line_id"],
                index_where=Medication.prescription_line_id.is_not(None),
            )
            .returning(Medication.id)
        )
        added = list(await db.scalars(statement))
    for medication_id in added:
        await access.check_write(db, scope, subject, Section.medications, medication_id, "create")
    rows = list(
        await db.scalars(
            visible(subject)
            .where(Medication.prescription_line_id.in_([line.id for line in lines]))
            .execution_options(populate_existing=True)
        )
    )
    position = {line.id: line.position for line in lines}
    rows.sort(key=lambda r: position.get(r.prescription_line_id or r.id, 0))
    return FromPrescriptionOut(added=len(added), items=await outs(db, scope, rows, zone, now))
