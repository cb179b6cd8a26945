"""Retention: how long each class of data is kept, declared next to the data it purges.

A domain that keeps data with a limited life declares each class as a :class:`DataClass` in its
``retention.py`` (``RETENTION: tuple[DataClass, ...]``), listed in
``registry.RETENTION_MODULES``; the daily run (``compliance/retention.py``) applies every class
of every listed module, in that order. Adding a class is adding a value to a module's
``RETENTION`` (or a module to the registry): nothing else changes.

A class's ``purge(db, scope, cutoff, dry_run)`` works on the data older than ``cutoff``:

- with ``dry_run`` it counts every row it would purge and writes nothing;
- without, it purges at most :data:`BATCH_ROWS` rows (one bounded statement, rows another
  transaction holds skipped) and returns how many; the run calls it again, a transaction each,
  until it returns 0, so a dry run's count and the real run's total are the same number.

The platform imports no domain: this module holds only the shape and the arithmetic.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import (
    ColumnClause,
    ColumnElement,
    CursorResult,
    TableClause,
    delete,
    func,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from carebridge.config import Settings
from carebridge.platform.context import CallScope
from carebridge.platform.registry import RETENTION_MODULES

# Rows one purge statement touches at most: short transactions, short row locks.
BATCH_ROWS = 500

Purge = Callable[[AsyncSession, CallScope, datetime, bool], Awaitable[int]]


@dataclass(frozen=True)
class DataClass:
    """One class of data with a retention period."""

    name: str  # stable: the metric label, the key in the audit row's counts
    description: str
    where: str  # tables (and storage) it lives in
    setting: str  # the Settings field holding its period (CAREBRIDGE_<FIELD> in upper case)
    unit: Literal["days", "years"]
    legal_basis: str
    purge: Purge

    @property
    def variable(self) -> str:
        """The environment variable that sets the period."""
        return f"CAREBRIDGE_{self.setting.upper()}"

    def period(self, settings: Settings) -> int:
        value = getattr(settings, self.setting)
        assert isinstance(value, int)
        return value

    def default(self) -> int:
        value = Settings.model_fields[self.setting].default
        assert isinstance(value, int)
        return value

    def describe_period(self, settings: Settings) -> str:
        return f"{self.period(settings)} {self.unit}"

    def cutoff(self, settings: Settings, now: datetime) -> datetime:
        """Data older than this is past its period."""
        period = self.period(settings)
        if self.unit == "days":
            return now - timedelta(days=period)
        return years_before(now, period)


def years_before(moment: datetime, years: int) -> datetime:
    """The same calendar moment ``years`` earlier (29 February becomes 28 February), as
    PostgreSQL's ``moment - interval 'N years'`` computes it."""
    year = moment.year - years
    try:
        return moment.replace(year=year)
    except ValueError:
        return moment.replace(year=year, day=28)


def load_data_classes() -> tuple[DataClass, ...]:
    """Every declared class, in the order of ``registry.RETENTION_MODULES``; names are unique."""
    classes: list[DataClass] = []
    for module in RETENTION_MODULES:
        classes.extend(importlib.import_module(module).RETENTION)
    names = [data_class.name for data_class in classes]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise RuntimeError(f"retention classes declared twice: {', '.join(duplicates)}")
    return tuple(classes)


async def purge_rows(
    db: AsyncSession,
    key: ColumnClause[Any] | QueryableAttribute[Any],
    condition: ColumnElement[bool],
    dry_run: bool,
) -> int:
    """The common purge: rows of ``key``'s table matching ``condition``. A dry run counts them
    all; a real run deletes at most :data:`BATCH_ROWS` of them, skipping rows another
    transaction holds (``FOR UPDATE SKIP LOCKED``), so two runs never wait on or double-count
    each other. Rows that reference a deleted one go with it (their foreign keys cascade)."""
    table = cast(TableClause, cast(ColumnClause[Any], key.expression).table)  # the key's own
    if dry_run:
        return int(await db.scalar(select(func.count()).select_from(table).where(condition)) or 0)
    chosen = (
        select(key).where(condition).limit(BATCH_ROWS).with_for_update(skip_locked=True)
    ).scalar_subquery()
    result = cast(CursorResult[Any], await db.execute(delete(table).where(key.in_(chosen))))
    return int(result.rowcount)
