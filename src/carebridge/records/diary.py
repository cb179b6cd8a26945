"""The symptom diary, allergies, conditions and immunizations: four sections of one shape, served
by one table-driven service. Each :class:`DiarySection` names its table, its section (for the
access rule and the audit), its sealed note, its schemas, the column its list is ordered by, and
``check``: the section's own rules, run on the whole entry after every create and change.

Who may write: the patient (``access.check_write``: audited). An entry is changed or deleted only
by whoever recorded it (the patient their own; a clinician's, when visits add them, is theirs).
Lists are newest first, keyset-paginated; every clinician read is audited by ``check_read``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.platform.context import CallScope
from carebridge.platform.crypto import SealedColumn
from carebridge.platform.db import lock_for_transaction
from carebridge.platform.errors import Conflict, Forbidden, Invalid, NotFound
from carebridge.platform.pagination import Page, keyset_page
from carebridge.records import access, symptom_catalog
from carebridge.records.diary_schemas import (
    AllergyIn,
    AllergyOut,
    AllergyPatch,
    ConditionIn,
    ConditionOut,
    ConditionPatch,
    ConditionStatus,
    EntryOut,
    ImmunizationIn,
    ImmunizationOut,
    ImmunizationPatch,
    SymptomIn,
    SymptomOut,
    SymptomPatch,
)
from carebridge.records.models import Allergy, Condition, Immunization, Section, Symptom
from carebridge.records.policy import Basis, Subject
from carebridge.records.sealed import (
    ALLERGY_NOTE,
    CONDITION_NOTE,
    IMMUNIZATION_NOTE,
    SYMPTOM_NOTE,
)

Entry = Symptom | Allergy | Condition | Immunization

# A clock a little ahead on the patient's device is not a time in the future.
_FUTURE_SLACK = timedelta(minutes=5)
# Statuses of a condition that is still going on: it has no resolved date.
_ONGOING = frozenset({ConditionStatus.active, ConditionStatus.recurrence, ConditionStatus.relapse})


@dataclass(frozen=True)
class DiarySection:
    section: Section
    model: type[Entry]
    note: SealedColumn
    create: type[BaseModel]
    patch: type[BaseModel]
    out: type[EntryOut]
    order: str  # the time column lists are ordered by, newest first
    required: frozenset[str]  # fields a patch may not set to null
    check: Callable[[Any, datetime], None]  # the section's rules on a whole entry

    @property
    def singular(self) -> str:
        return self.model.__name__.lower()

    def not_found(self) -> NotFound:
        return NotFound(f"No such {self.singular}.", code=f"{self.singular}_not_found")


def _not_in_future_day(value: date | None, label: str, now: datetime, code: str) -> None:
    if value is not None and value > (now + _FUTURE_SLACK).date():
        raise Invalid(f"{label} cannot be in the future.", code=code)


def _check_symptom(row: Symptom, now: datetime) -> None:
    """A known word is stored as the catalog's code and label; the onset is not ahead."""
    found = symptom_catalog.match(row.name)
    row.code, row.name = (found.code, found.label) if found else (None, row.name)
    if row.onset_at > now + _FUTURE_SLACK:
        raise Invalid("A symptom cannot begin in the future.", code="onset_in_future")


def _check_allergy(row: Allergy, now: datetime) -> None:
    _not_in_future_day(row.noted_on, "The date noted", now, "noted_in_future")


def _check_condition(row: Condition, now: datetime) -> None:
    _not_in_future_day(row.onset_on, "The onset", now, "onset_in_future")
    _not_in_future_day(row.resolved_on, "The resolved date", now, "resolved_in_future")
    if row.resolved_on is None:
        return
    if row.status in _ONGOING:
        raise Invalid(
            f"A condition that is {row.status} has no resolved date: change its status too.",
            code="resolved_while_ongoing",
        )
    if row.onset_on is not None and row.resolved_on < row.onset_on:
        raise Invalid("A condition cannot resolve before its onset.", code="resolved_before_onset")


def _check_immunization(row: Immunization, now: datetime) -> None:
    _not_in_future_day(row.given_on, "A vaccination", now, "given_in_future")


SYMPTOMS = DiarySection(
    Section.symptoms, Symptom, SYMPTOM_NOTE, SymptomIn, SymptomPatch, SymptomOut, "onset_at",
    frozenset({"name", "severity", "onset_at"}), _check_symptom,
)  # fmt: skip
ALLERGIES = DiarySection(
    Section.allergies, Allergy, ALLERGY_NOTE, AllergyIn, AllergyPatch, AllergyOut, "created_at",
    frozenset({"substance", "severity"}), _check_allergy,
)  # fmt: skip
CONDITIONS = DiarySection(
    Section.conditions, Condition, CONDITION_NOTE, ConditionIn, ConditionPatch, ConditionOut,
    "created_at", frozenset({"name", "status"}), _check_condition,
)  # fmt: skip
# Ordered by when they were entered: the keyset cursor holds an instant, given_on is a day.
IMMUNIZATIONS = DiarySection(
    Section.immunizations, Immunization, IMMUNIZATION_NOTE, ImmunizationIn, ImmunizationPatch,
    ImmunizationOut, "created_at", frozenset({"vaccine", "given_on"}), _check_immunization,
)  # fmt: skip
SECTIONS: tuple[DiarySection, ...] = (SYMPTOMS, ALLERGIES, CONDITIONS, IMMUNIZATIONS)


def out(scope: CallScope, spec: DiarySection, row: Entry) -> EntryOut:
    fields = {name: getattr(row, name) for name in spec.out.model_fields if name != "note"}
    return spec.out.model_validate({**fields, "note": scope.keyring.open_text(spec.note, row)})


def visible(spec: DiarySection, subject: Subject) -> Select[Any]:
    return select(spec.model).where(spec.model.patient_id == subject.patient_id)


async def list_entries(
    db: AsyncSession,
    scope: CallScope,
    spec: DiarySection,
    subject: Subject,
    *,
    cursor: str | None,
    limit: int,
) -> Page[EntryOut]:
    """Newest first (by ``spec.order``)."""
    await access.check_read(db, scope, subject, spec.section)
    page = await keyset_page(
        db, visible(spec, subject), spec.model, cursor=cursor, limit=limit, time_column=spec.order
    )
    return Page(items=[out(scope, spec, row) for row in page.items], next_cursor=page.next_cursor)


def _apply(scope: CallScope, spec: DiarySection, row: Entry, values: dict[str, Any]) -> None:
    for name, value in values.items():
        if name == "note":
            row.note_sealed = scope.keyring.seal(spec.note, row, value)
        elif value is None and name in spec.required:
            raise Invalid(f"{name} cannot be cleared.", code="required_field", field=name)
        else:
            setattr(row, name, value)


async def _check_unique_allergy(db: AsyncSession, row: Allergy) -> None:
    """The same substance once per record (any case): 409 with the entry that has it. Writes of
    a record's allergies are serialised so two at once cannot both pass."""
    await lock_for_transaction(db, f"record-allergies:{row.patient_id}")
    existing = await db.scalar(
        select(Allergy.id).where(
            Allergy.patient_id == row.patient_id,
            func.lower(Allergy.substance) == row.substance.lower(),
            Allergy.id != row.id,
        )
    )
    if existing is not None:
        raise Conflict(
            "This substance is already in your allergies: change that entry instead.",
            code="allergy_exists",
            existing_id=str(existing),
        )


async def _checked(db: AsyncSession, spec: DiarySection, row: Entry, now: datetime | None) -> None:
    spec.check(row, now or datetime.now(UTC))
    if isinstance(row, Allergy):
        await _check_unique_allergy(db, row)


async def add(
    db: AsyncSession,
    scope: CallScope,
    spec: DiarySection,
    subject: Subject,
    body: BaseModel,
    *,
    now: datetime | None = None,
) -> EntryOut:
    values = body.model_dump()
    if spec is SYMPTOMS and values["onset_at"] is None:
        values["onset_at"] = now or datetime.now(UTC)
    row = spec.model(id=uuid.uuid4(), patient_id=subject.patient_id)
    row.recorded_by_id = subject.actor.id
    await scope.unlock(db, subject.patient_id)
    _apply(scope, spec, row, values)
    await _checked(db, spec, row, now)
    await access.check_write(db, scope, subject, spec.section, row.id, "create")
    db.add(row)
    await db.flush()
    await db.refresh(row)
    return out(scope, spec, row)


async def _owned(
    db: AsyncSession, spec: DiarySection, subject: Subject, entry_id: uuid.UUID
) -> Entry:
    row: Entry | None = await db.scalar(
        visible(spec, subject).where(spec.model.id == entry_id).with_for_update()
    )
    if row is None:
        raise spec.not_found()
    mine = row.recorded_by_id in (subject.actor.id, None) if subject.basis == Basis.own else (
        row.recorded_by_id == subject.actor.id
    )  # fmt: skip
    if not mine:
        raise Forbidden(
            "Only whoever recorded an entry changes or deletes it.", code="not_your_entry"
        )
    return row


async def update(
    db: AsyncSession,
    scope: CallScope,
    spec: DiarySection,
    subject: Subject,
    entry_id: uuid.UUID,
    body: BaseModel,
    *,
    now: datetime | None = None,
) -> EntryOut:
    await access.check_write(db, scope, subject, spec.section, entry_id, "update")
    row = await _owned(db, spec, subject, entry_id)
    _apply(scope, spec, row, body.model_dump(exclude_unset=True))
    await _checked(db, spec, row, now)
    await db.flush()
    await db.refresh(row)
    return out(scope, spec, row)


async def delete(
    db: AsyncSession, scope: CallScope, spec: DiarySection, subject: Subject, entry_id: uuid.UUID
) -> None:
    await access.check_write(db, scope, subject, spec.section, entry_id, "delete")
    await db.delete(await _owned(db, spec, subject, entry_id))
