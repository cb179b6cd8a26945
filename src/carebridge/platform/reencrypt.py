"""Re-encryption: move every sealed value to the keyring's current key after a key rotation.

Each registered column (``registry.SEALED_COLUMN_MODULES``) is walked in keyset batches by its
primary key. A batch is one short transaction: it locks its rows (``FOR UPDATE``), opens every
value with any key of the keyring, and re-seals under the current key the values sealed under
another one. The plaintext never changes, only the key that seals it, so the application may keep
running: a request that wants a locked row waits for one batch at most. ``SKIP LOCKED`` is not
used on purpose: a skipped row would stay under the old key until another run.

A value that does not open (damaged, bound to other data, or sealed under a key the keyring does
not hold) is left as it is and reported by table, column and row id; the others are re-sealed.
The walk is idempotent: a second run finds every value current and writes nothing.

Patient data (a column with a ``key_class``) is under its patient's data key, which a rotation
of the keyring does not change: the data keys themselves (``patient_keys``, walked first) are
re-sealed under the current key, and a value still in the old ``cb1`` layout (sealed by the
keyring directly) is moved under its patient's data key, found by the column's ``owner`` or
``owner_via``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, bindparam, func, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.platform.crypto import (
    DESTROYED,
    DataKeyNotLoaded,
    Keyring,
    SealedColumn,
    Unreadable,
)
from carebridge.platform.db import Database
from carebridge.platform.patient_keys import unlock
from carebridge.platform.registry import SEALED_COLUMN_MODULES, load_models

Advance = Callable[[int], None]

# The label of the patient owning a row of patient data, read beside its columns.
_OWNER = "_reencrypt_owner"


@dataclass(frozen=True)
class Failure:
    """A value that did not open: its row and why (never the value)."""

    row_id: str
    reason: str


@dataclass
class ColumnReport:
    """What one column's walk found. ``resealed`` counts what would be re-sealed in a dry run."""

    column: SealedColumn
    seen: int = 0
    resealed: int = 0
    current: int = 0
    failed: list[Failure] = field(default_factory=list)


def load_sealed_columns(modules: Sequence[str] = SEALED_COLUMN_MODULES) -> list[SealedColumn]:
    columns: list[SealedColumn] = []
    for module_path in modules:
        declared = importlib.import_module(module_path).SEALED_COLUMNS
        columns.extend(cast(tuple[SealedColumn, ...], declared))
    return columns


def _table(sealed: SealedColumn) -> Table:
    return load_models().tables[sealed.table]


async def count_sealed(database: Database, sealed: SealedColumn) -> int:
    """Rows with a value in ``sealed`` (the length of its progress bar)."""
    value = _table(sealed).c[sealed.column]
    async with database.transaction() as db:
        total = await db.scalar(select(func.count()).where(value.is_not(None)))
    return int(total or 0)


async def reencrypt_column(
    database: Database,
    keyring: Keyring,
    sealed: SealedColumn,
    *,
    batch_size: int = 500,
    dry_run: bool = False,
    advance: Advance | None = None,
) -> ColumnReport:
    """Walk ``sealed`` batch by batch; each batch commits on its own."""
    report = ColumnReport(sealed)
    after: tuple[Any, ...] | None = None
    while True:
        async with database.transaction() as db:
            rows = await _next_batch(db, sealed, after, batch_size, lock=not dry_run)
            if not rows:
                return report
            if sealed.key_class is not None:
                # The owners' keys: to open the values under them, and to move old ones there
                # (made if missing, except in a dry run, which writes nothing).
                owners = {row[_OWNER] for row in rows}
                await unlock(db, keyring, owners, (sealed.key_class,), create=not dry_run)
            updates = _reseal(keyring, sealed, rows, report, dry_run=dry_run)
            if updates:
                await _write(db, sealed, updates)
        after = tuple(rows[-1][name] for name in sealed.key)
        if advance is not None:
            advance(len(rows))


def owner_of_rows(sealed: SealedColumn) -> ColumnElement[Any]:
    """The patient owning a row of ``sealed`` (a column of patient data), as a SQL expression
    over its table: its ``owner`` column, or a subquery through its ``owner_via``."""
    table = _table(sealed)
    if sealed.owner is not None:
        return table.c[sealed.owner]
    via = sealed.owner_via
    assert via is not None  # SealedColumn holds a key class and an owner together
    parent = load_models().tables[via.table]
    owner = select(parent.c[via.owner]).where(parent.c.id == table.c[via.column])
    return owner.scalar_subquery()


async def _next_batch(
    db: AsyncSession,
    sealed: SealedColumn,
    after: tuple[Any, ...] | None,
    batch_size: int,
    *,
    lock: bool,
) -> list[dict[str, Any]]:
    table = _table(sealed)
    keys = [table.c[name] for name in sealed.key]
    names = dict.fromkeys((*sealed.key, *sealed.reads, sealed.column))
    query = (
        select(*(table.c[name] for name in names))
        .where(table.c[sealed.column].is_not(None))
        .order_by(*keys)
        .limit(batch_size)
    )
    if sealed.key_class is not None:
        query = query.add_columns(owner_of_rows(sealed).label(_OWNER))
    if after is not None:
        query = query.where(tuple_(*keys) > tuple_(*after))
    if lock:
        # The prescriptions trigger lets an issued prescription's sealed columns change only
        # while this is on; it lasts until the batch's transaction ends.
        await db.execute(text("SET LOCAL carebridge.reencrypt = 'on'"))
        query = query.with_for_update(of=table)
    return [dict(row._mapping) for row in await db.execute(query)]


def _reseal(
    keyring: Keyring,
    sealed: SealedColumn,
    rows: list[dict[str, Any]],
    report: ColumnReport,
    *,
    dry_run: bool,
) -> list[dict[str, Any]]:
    """The new values of ``rows`` (none in a dry run, which only counts)."""
    updates: list[dict[str, Any]] = []
    for row in rows:
        report.seen += 1
        try:
            plaintext = keyring.open(sealed, row)
        except Unreadable as error:
            report.failed.append(Failure(error.row_id, error.reason))
            continue
        except DataKeyNotLoaded:  # a dry run makes no key: the patient's key is gone
            report.failed.append(Failure(sealed.row_id(row), DESTROYED))
            continue
        assert plaintext is not None  # the walk reads only rows with a value
        if keyring.is_current(row[sealed.column], sealed):
            report.current += 1
            continue
        report.resealed += 1
        if dry_run:
            continue
        keys = {f"key_{name}": row[name] for name in sealed.key}
        owner = row.get(_OWNER)
        resealed = keyring.seal(sealed, row, plaintext, patient=owner)
        updates.append({**keys, "sealed_value": resealed})
    return updates


async def _write(db: AsyncSession, sealed: SealedColumn, updates: list[dict[str, Any]]) -> None:
    table = _table(sealed)
    statement = update(table).values({sealed.column: bindparam("sealed_value")})
    for name in sealed.key:
        statement = statement.where(table.c[name] == bindparam(f"key_{name}"))
    await db.execute(statement, updates)
