"""What erasing a patient does to each table, declared by the domain that owns the table.

A patient who asks to be erased loses, after the grace period, everything CareBridge holds about
them except what the law requires the clinic to keep. Each domain says, for each of its tables
that can hold a patient's data, one :class:`ErasureRule`: which rows are the patient's (``where``,
an SQL condition on ``:patient``), what happens to them when the patient is erased
(``at_erasure``: deleted, cleared column by column, or kept), and what happens when the legal
hold on what was kept ends (``at_purge``). Rules are listed in each domain's ``erasure.py``
(``ERASURE_RULES``) and the modules in ``registry.ERASURE_MODULES``; the compliance domain runs
them in that order, so a domain lists its child tables before their parents.

Storage objects named by a row (``files``: the columns holding storage keys) are collected
before the row goes and deleted after the transaction commits (the compliance domain keeps them
in a table until they are gone, so a worker that dies in between loses nothing).

A table with a foreign key to ``users`` but no patient data (a doctor's schedule) says so with
``at_erasure="keep", at_purge="keep"`` and a ``why``: tests walk the schema and fail on a table
no rule speaks for.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

AtErasure = Literal["delete", "clear", "keep"]
AtPurge = Literal["delete", "keep"]


@dataclass(frozen=True)
class ErasureRule:
    table: str
    at_erasure: AtErasure
    at_purge: AtPurge
    why: str
    where: str = "patient_id = :patient"
    # clear: column -> SQL expression (may use :patient), e.g. {"reason_sealed": "NULL"}
    clear: Mapping[str, str] = field(default_factory=dict)
    files: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.at_erasure == "clear") != bool(self.clear):
            raise ValueError(f"{self.table}: a clear rule names its columns, and only it does")

    @property
    def held(self) -> bool:
        """Whether the rows outlive the erasure, to be deleted when the hold ends."""
        return self.at_erasure != "delete" and self.at_purge == "delete"


@dataclass
class Outcome:
    """What one step did: rows per table, and the storage keys to delete after commit."""

    rows: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def count(self, table: str, rows: int) -> None:
        if rows:
            self.rows[table] = self.rows.get(table, 0) + rows


def rules(modules: tuple[str, ...]) -> tuple[ErasureRule, ...]:
    """Every rule of ``modules`` (``registry.ERASURE_MODULES``), in their order."""
    found: list[ErasureRule] = []
    for name in modules:
        found.extend(importlib.import_module(name).ERASURE_RULES)
    return tuple(found)


async def _files(db: AsyncSession, rule: ErasureRule, patient_id: uuid.UUID) -> list[str]:
    if not rule.files:
        return []
    columns = ", ".join(rule.files)
    statement = text(f"SELECT {columns} FROM {rule.table} WHERE {rule.where}")  # noqa: S608
    rows = (await db.execute(statement, {"patient": patient_id})).all()
    return [key for row in rows for key in row if key]


async def _delete(
    db: AsyncSession, rule: ErasureRule, patient_id: uuid.UUID, outcome: Outcome
) -> None:
    outcome.files.extend(await _files(db, rule, patient_id))
    statement = text(f"DELETE FROM {rule.table} WHERE {rule.where}")  # noqa: S608
    result = await db.execute(statement, {"patient": patient_id})
    outcome.count(rule.table, result.rowcount)  # type: ignore[attr-defined]


async def _clear(
    db: AsyncSession, rule: ErasureRule, patient_id: uuid.UUID, outcome: Outcome
) -> None:
    assignments = ", ".join(f"{column} = {value}" for column, value in rule.clear.items())
    statement = text(f"UPDATE {rule.table} SET {assignments} WHERE {rule.where}")  # noqa: S608
    result = await db.execute(statement, {"patient": patient_id})
    outcome.count(rule.table, result.rowcount)  # type: ignore[attr-defined]


async def erase(
    db: AsyncSession, declared: tuple[ErasureRule, ...], patient_id: uuid.UUID
) -> Outcome:
    """Apply every rule's ``at_erasure`` to the patient's rows, in order, in ``db``'s
    transaction."""
    outcome = Outcome()
    for rule in declared:
        if rule.at_erasure == "delete":
            await _delete(db, rule, patient_id, outcome)
        elif rule.at_erasure == "clear":
            await _clear(db, rule, patient_id, outcome)
    return outcome


async def purge(
    db: AsyncSession, declared: tuple[ErasureRule, ...], patient_id: uuid.UUID
) -> Outcome:
    """Delete what was held of an erased patient (every rule whose ``at_purge`` is delete), in
    order, in ``db``'s transaction."""
    outcome = Outcome()
    for rule in declared:
        if rule.at_erasure != "delete" and rule.at_purge == "delete":
            await _delete(db, rule, patient_id, outcome)
    return outcome


async def count_held(
    db: AsyncSession, declared: tuple[ErasureRule, ...], patient_id: uuid.UUID
) -> int:
    """The rows :func:`purge` would delete for the patient (a retention dry run's count)."""
    total = 0
    for rule in declared:
        if rule.at_erasure != "delete" and rule.at_purge == "delete":
            statement = text(f"SELECT count(*) FROM {rule.table} WHERE {rule.where}")  # noqa: S608
            total += int(await db.scalar(statement, {"patient": patient_id}) or 0)
    return total
