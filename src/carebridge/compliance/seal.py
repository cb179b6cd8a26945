"""The seal of the audit trail: final events, in the trail's order, into signed, chained batches.

The sealer takes the events of ended transactions (``compliance/final.py``) that come after the
last batch's last position, at most ``CAREBRIDGE_AUDIT_SEAL_BATCH_SIZE`` at a time, and writes
one ``audit_batches`` row per transaction (hashes: ``compliance/seal_hash.py``). Each batch is
made under a transaction-scoped advisory lock, so two sealers (two workers, a worker and a
command) queue up and never write the same number or skip an event: the second reads the last
batch after the first committed. Nothing of this runs on the request path: events are written as
before, and sealed later by the periodic job (``compliance/tasks.py``).

A transaction still running holds the seal back at its first event (its events, and every
later one, wait for it to end): an event committed late is sealed, never skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import func, insert, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.tokens import KeyStore
from carebridge.compliance.final import ENDED_BELOW, ORDER, final_after
from carebridge.compliance.models import AuditEvent
from carebridge.compliance.seal_hash import (
    EVENT_COLUMNS,
    GENESIS,
    batch_hash,
    leaf_hash,
    merkle_root,
    pack_leaves,
)
from carebridge.compliance.seal_models import AuditBatch
from carebridge.platform.db import Database, lock_for_transaction

log = structlog.get_logger(__name__)

SEAL_LOCK = "carebridge:audit-seal"


@dataclass(frozen=True)
class Sealed:
    """A batch just written."""

    number: int
    events: int
    hash: bytes


@dataclass(frozen=True)
class Tip:
    """Where the sealed trail ends: the last batch's number, last position and hash."""

    number: int
    position: tuple[int, int]
    hash: bytes


async def tip(db: AsyncSession) -> Tip:
    """The end of the sealed trail (number 0, position (0, 0) and 32 zero bytes before the first
    batch)."""
    last = (
        await db.execute(
            select(AuditBatch.number, AuditBatch.last_xact, AuditBatch.last_seq, AuditBatch.hash)
            .order_by(AuditBatch.number.desc())
            .limit(1)
        )
    ).one_or_none()
    if last is None:
        return Tip(0, (0, 0), GENESIS)
    return Tip(last.number, (last.last_xact, last.last_seq), last.hash)


async def all_final(db: AsyncSession) -> bool:
    """Whether every event written so far is final: a sealer running now would take them all."""
    newest = func.coalesce(func.max(AuditEvent.xact), 0)
    return bool(await db.scalar(select(newest < ENDED_BELOW)))


async def seal_batch(db: AsyncSession, keys: KeyStore, size: int) -> Sealed | None:
    """Seal the next ``size`` final events at most, in ``db``'s transaction; None when there
    is none. Waits for a sealer already at work (the lock is released with the transaction)."""
    await lock_for_transaction(db, SEAL_LOCK)
    last = await tip(db)
    rows: Sequence[Any] = (
        await db.execute(
            select(*(literal_column(column) for column in EVENT_COLUMNS))
            .select_from(AuditEvent)
            .where(final_after(*last.position))
            .order_by(*ORDER)
            .limit(size)
        )
    ).all()
    if not rows:
        return None
    leaves = [leaf_hash(row) for row in rows]
    root = merkle_root(leaves)
    number = last.number + 1
    first, final = (rows[0].xact, rows[0].seq), (rows[-1].xact, rows[-1].seq)
    sealed_at = datetime.now(UTC)
    chained = batch_hash(last.hash, root, number, first, final, len(rows), sealed_at)
    kid, private = await keys.signing_key(db)
    await db.execute(
        insert(AuditBatch).values(
            number=number,
            first_xact=first[0],
            first_seq=first[1],
            last_xact=final[0],
            last_seq=final[1],
            event_count=len(rows),
            leaves=pack_leaves([row.seq for row in rows], leaves),
            root=root,
            prev_hash=last.hash,
            hash=chained,
            kid=kid,
            signature=private.sign(chained),
            sealed_at=sealed_at,
        )
    )
    return Sealed(number, len(rows), chained)


async def seal_pending(database: Database, keys: KeyStore, batch_size: int) -> list[Sealed]:
    """Seal every final event not sealed yet, a batch per transaction; the batches written."""
    written: list[Sealed] = []
    while True:
        async with database.transaction() as db:
            sealed = await seal_batch(db, keys, batch_size)
        if sealed is None:
            return written
        log.info("audit_sealed", number=sealed.number, events=sealed.events, hash=sealed.hash.hex())
        written.append(sealed)
        if sealed.events < batch_size:
            return written
