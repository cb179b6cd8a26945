"""Observations: a reading is converted to its kind's canonical unit, checked against what is
possible (422 with the accepted range in the unit it was entered in), flagged against the
documented ranges (``vitals``) and stored with the patient's time zone of the moment.

Who may write: the patient (source ``patient``), or a clinician who cares for them (source
``clinician``, ``access.check_write``). A row is changed or deleted only by whoever recorded it:
the patient their own readings and imports, a clinician theirs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.service import time_zone_of
from carebridge.platform.context import CallScope
from carebridge.platform.errors import Forbidden, Invalid, NotFound
from carebridge.platform.pagination import Page, keyset_page
from carebridge.records import access
from carebridge.records.models import Flag, Observation, Section, Source
from carebridge.records.policy import Basis, Subject
from carebridge.records.schemas import ObservationIn, ObservationOut, ObservationPatch
from carebridge.records.sealed import OBSERVATION_NOTE
from carebridge.records.vitals import SPECS, Kind, KindSpec, Unit, worse

# A clock a little ahead on the patient's device is not a reading from the future.
_FUTURE_SLACK = timedelta(minutes=5)


@dataclass(frozen=True)
class Measured:
    value: float
    value2: float | None
    unit: Unit  # the unit it was entered in
    flag: Flag


def _format(number: float) -> str:
    return f"{number:.6g}"


def _check_possible(
    label: str, spec: KindSpec, value: float, bounds: tuple[float, float], unit: Unit
) -> None:
    low, high = bounds
    if not low <= value <= high:
        shown = sorted((unit.from_canonical(low), unit.from_canonical(high)))
        raise Invalid(
            f"{label} must be between {_format(round(shown[0], 2))} and "
            f"{_format(round(shown[1], 2))} {unit.label}: check the reading and its unit.",
            code="impossible_value",
        )


def measure(kind: Kind, value: float, value2: float | None, unit_code: str | None) -> Measured:
    """The canonical values and flag of a reading, or 422 (unknown unit, impossible value, a
    blood pressure without its diastolic or with it above the systolic)."""
    spec = SPECS[kind]
    if spec.derived:
        raise Invalid(f"{spec.label} is computed, not entered.", code="derived_kind")
    unit = spec.unit if unit_code is None else spec.unit_of(unit_code)
    if unit is None:
        accepted = ", ".join(u.code for u in spec.units)
        raise Invalid(f"{spec.label} is entered in {accepted}.", code="unknown_unit")
    canonical = round(unit.to_canonical(value), spec.precision)
    _check_possible(spec.label, spec, canonical, spec.possible, unit)
    flag = spec.ranges.flag(canonical)
    second = None
    if spec.second is not None:
        if value2 is None:
            raise Invalid(f"{spec.label} needs both readings (value2).", code="value2_required")
        second = round(unit.to_canonical(value2), spec.precision)
        _check_possible(spec.second.label, spec, second, spec.second.possible, unit)
        if second >= canonical:
            raise Invalid(
                "The diastolic reading (value2) must be below the systolic one (value).",
                code="impossible_value",
            )
        flag = worse(flag, spec.second.ranges.flag(second))
    elif value2 is not None:
        raise Invalid(f"{spec.label} has one value: leave value2 out.", code="value2_not_used")
    return Measured(canonical, second, unit, flag)


def out(scope: CallScope, row: Observation) -> ObservationOut:
    spec = SPECS[Kind(row.kind)]
    return ObservationOut(
        id=row.id,
        patient_id=row.patient_id,
        kind=spec.kind,
        label=spec.label,
        loinc=spec.loinc,
        value=row.value,
        value2=row.value2,
        unit=row.unit,
        entered_unit=row.entered_unit,
        flag=Flag(row.flag),
        measured_at=row.measured_at,
        time_zone=row.time_zone,
        source=Source(row.source),
        recorded_by_id=row.recorded_by_id,
        note=scope.keyring.open_text(OBSERVATION_NOTE, row),
        created_at=row.created_at,
    )


def source_of(subject: Subject) -> Source:
    return Source.patient if subject.basis == Basis.own else Source.clinician


def new_row(
    scope: CallScope,
    patient_id: uuid.UUID,
    kind: Kind,
    measured: Measured,
    *,
    measured_at: datetime,
    time_zone: str,
    source: Source,
    recorded_by_id: uuid.UUID | None,
    note: str | None,
) -> Observation:
    """An observation row ready to add (visits and the import make them too)."""
    row = Observation(
        id=uuid.uuid4(),
        patient_id=patient_id,
        kind=kind.value,
        value=measured.value,
        value2=measured.value2,
        unit=SPECS[kind].unit.code,
        entered_unit=measured.unit.code,
        flag=measured.flag.value,
        measured_at=measured_at,
        time_zone=time_zone,
        source=source.value,
        recorded_by_id=recorded_by_id,
    )
    row.note_sealed = scope.keyring.seal(OBSERVATION_NOTE, row, note)
    return row


async def add(
    db: AsyncSession,
    scope: CallScope,
    subject: Subject,
    body: ObservationIn,
    *,
    now: datetime | None = None,
) -> ObservationOut:
    now = now or datetime.now(UTC)
    kind = Kind(body.kind)
    measured = measure(kind, body.value, body.value2, body.unit)
    measured_at = body.measured_at or now
    if measured_at > now + _FUTURE_SLACK:
        raise Invalid("A reading cannot be measured in the future.", code="measured_in_future")
    await scope.unlock(db, subject.patient_id)
    row = new_row(
        scope,
        subject.patient_id,
        kind,
        measured,
        measured_at=measured_at,
        time_zone=await time_zone_of(db, subject.patient_id),
        source=source_of(subject),
        recorded_by_id=subject.actor.id,
        note=body.note,
    )
    await access.check_write(db, scope, subject, Section.observations, row.id, "create")
    db.add(row)
    await db.flush()
    await db.refresh(row)
    return out(scope, row)


def visible(subject: Subject) -> Select[Any]:
    return select(Observation).where(Observation.patient_id == subject.patient_id)


async def list_observations(
    db: AsyncSession,
    scope: CallScope,
    subject: Subject,
    *,
    kind: Kind | None,
    since: datetime | None,
    until: datetime | None,
    cursor: str | None,
    limit: int,
) -> Page[ObservationOut]:
    """Newest measured first."""
    await access.check_read(db, scope, subject, Section.observations)
    statement = visible(subject)
    if kind is not None:
        statement = statement.where(Observation.kind == kind.value)
    if since is not None:
        statement = statement.where(Observation.measured_at >= since)
    if until is not None:
        statement = statement.where(Observation.measured_at < until)
    page = await keyset_page(
        db, statement, Observation, cursor=cursor, limit=limit, time_column="measured_at"
    )
    return Page(items=[out(scope, row) for row in page.items], next_cursor=page.next_cursor)


async def _owned(db: AsyncSession, subject: Subject, observation_id: uuid.UUID) -> Observation:
    row: Observation | None = await db.scalar(
        visible(subject).where(Observation.id == observation_id).with_for_update()
    )
    if row is None:
        raise NotFound("No such observation.")
    mine = (
        row.source in (Source.patient, Source.import_)
        if subject.basis == Basis.own
        else row.recorded_by_id == subject.actor.id
    )
    if not mine:
        raise Forbidden(
            "Only whoever recorded a reading changes or deletes it.", code="not_your_entry"
        )
    return row


async def update(
    db: AsyncSession,
    scope: CallScope,
    subject: Subject,
    observation_id: uuid.UUID,
    body: ObservationPatch,
    *,
    now: datetime | None = None,
) -> ObservationOut:
    now = now or datetime.now(UTC)
    await access.check_write(db, scope, subject, Section.observations, observation_id, "update")
    row = await _owned(db, subject, observation_id)
    changes = body.model_dump(exclude_unset=True)
    for required in ("value", "unit", "measured_at"):
        if required in changes and changes[required] is None:
            raise Invalid(f"{required} cannot be cleared.", code="required_field")
    kind = Kind(row.kind)
    if {"value", "value2", "unit"} & changes.keys():
        unit = SPECS[kind].unit_of(row.entered_unit)
        old_unit = unit or SPECS[kind].unit
        value = changes.get("value", round(old_unit.from_canonical(row.value), 6))
        value2 = changes.get(
            "value2", None if row.value2 is None else round(old_unit.from_canonical(row.value2), 6)
        )
        measured = measure(kind, value, value2, changes.get("unit", row.entered_unit))
        row.value, row.value2 = measured.value, measured.value2
        row.entered_unit, row.flag = measured.unit.code, measured.flag.value
    if "measured_at" in changes:
        if changes["measured_at"] > now + _FUTURE_SLACK:
            raise Invalid("A reading cannot be measured in the future.", code="measured_in_future")
        row.measured_at = changes["measured_at"]
    if "note" in changes:
        row.note_sealed = scope.keyring.seal(OBSERVATION_NOTE, row, changes["note"])
    await db.flush()
    await db.refresh(row)
    return out(scope, row)


async def delete(
    db: AsyncSession, scope: CallScope, subject: Subject, observation_id: uuid.UUID
) -> None:
    await access.check_write(db, scope, subject, Section.observations, observation_id, "delete")
    row = await _owned(db, subject, observation_id)
    await db.delete(row)


async def withdraw(
    db: AsyncSession, scope: CallScope, subject: Subject, observation_ids: list[uuid.UUID]
) -> None:
    """Delete the readings among ``observation_ids`` that ``subject``'s clinician recorded (a
    home visit report's, replaced when the report is submitted again), each write audited; rows
    already gone or recorded by someone else are left alone."""
    if not observation_ids:
        return
    rows = list(
        await db.scalars(
            visible(subject)
            .where(
                Observation.id.in_(observation_ids),
                Observation.recorded_by_id == subject.actor.id,
            )
            .with_for_update()
        )
    )
    for row in rows:
        await access.check_write(db, scope, subject, Section.observations, row.id, "delete")
        await db.delete(row)
