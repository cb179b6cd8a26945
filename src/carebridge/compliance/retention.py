"""The retention run: every class of data (``platform/retention.py``, declared by the domains
listed in ``registry.RETENTION_MODULES``) purged of what is older than its period, daily
(``compliance/retention_tasks.py``) or by hand (``carebridge retention run [--dry-run]``).

One run at a time: a run holds a PostgreSQL advisory lock (on a connection of its own, so a run
whose process dies frees it with its connection) and a second run waits for it. Each class is
purged a bounded batch per transaction until nothing is left, so no transaction is long and
rows another transaction holds are skipped rather than waited on. A real run writes one audit
row, ``retention.applied``, with the count of each class;
``compliance/retention_metrics.py`` shows the last run's counts at each scrape. A dry run
counts, writes nothing and audits nothing.

This module also declares the audit trail's own class: events are kept at least six years, and
are deleted only by ``compliance_purge_audit`` (migration ``0031_retention``), whole sealed
batches at a time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.compliance.service import record
from carebridge.platform.context import CallScope
from carebridge.platform.db import Database
from carebridge.platform.retention import DataClass, load_data_classes

log = structlog.get_logger(__name__)

APPLIED = "retention.applied"

# pg_advisory_lock's key for "a retention run is under way" (any fixed bigint, unique to it).
RUN_LOCK = 0x43425F524554  # "CB_RET"

# Audit events one call of the purge function deletes at most (whole batches, one at least).
AUDIT_EVENTS_PER_CALL = 10_000


@dataclass(frozen=True)
class Applied:
    """What a run did (or, dry, would do) to one class."""

    data_class: DataClass
    period: str
    cutoff: datetime
    count: int


@asynccontextmanager
async def one_run_at_a_time(database: Database) -> AsyncIterator[None]:
    """Hold the run's advisory lock meanwhile (waiting for a run under way to end)."""
    async with database.engine.connect() as connection:
        holder = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await holder.execute(select(func.pg_advisory_lock(RUN_LOCK)))
        try:
            yield
        finally:
            # The connection goes back to the pool: a session lock left on it would block
            # every later run, so a connection that could not unlock is closed for good.
            try:
                await holder.execute(select(func.pg_advisory_unlock(RUN_LOCK)))
            except BaseException:
                await holder.invalidate()
                raise


async def apply_class(
    database: Database, scope: CallScope, data_class: DataClass, cutoff: datetime, dry_run: bool
) -> int:
    """Purge one class of what is older than ``cutoff``, a batch per transaction, and return
    how many rows went (a dry run: would go)."""
    if dry_run:
        async with database.transaction() as db:
            return await data_class.purge(db, scope, cutoff, True)
    total = 0
    while True:
        async with database.transaction() as db:
            purged = await data_class.purge(db, scope, cutoff, False)
        if not purged:
            return total
        total += purged


async def apply(
    database: Database, scope: CallScope, *, dry_run: bool = False, now: datetime | None = None
) -> list[Applied]:
    """Apply every class's period, in the registry's order; audit a real run."""
    now = now or datetime.now(UTC)
    applied = []
    async with one_run_at_a_time(database):
        for data_class in load_data_classes():
            cutoff = data_class.cutoff(scope.settings, now)
            count = await apply_class(database, scope, data_class, cutoff, dry_run)
            period = data_class.describe_period(scope.settings)
            applied.append(Applied(data_class, period, cutoff, count))
        if not dry_run:
            async with database.transaction() as db:
                await record(
                    db,
                    action=APPLIED,
                    resource_type="retention",
                    context=scope.origin,
                    counts={a.data_class.name: a.count for a in applied},
                )
    log.info(
        "retention_applied" if not dry_run else "retention_counted",
        purged=[f"{a.data_class.name}: {a.count}" for a in applied],
    )
    return applied


# -- the audit trail's own class ----------------------------------------------------------------

_SEALED = text("SELECT to_regclass('audit_batches') IS NOT NULL")

# LEAST: the application's clock and the database's may differ by a moment; the function
# compares with the database's (and refuses anything later).
_PURGE_AUDIT = text(
    "SELECT compliance_purge_audit("
    "LEAST(CAST(:cutoff AS timestamptz), now() - interval '6 years'), :max_events, :dry_run)"
)


async def purge_audit_events(
    db: AsyncSession, scope: CallScope, cutoff: datetime, dry_run: bool
) -> int:
    """Events of whole sealed batches older than ``cutoff``, with their batch rows (the only
    way audit rows are deleted: ``compliance_purge_audit``). Nothing before the seal exists."""
    if not await db.scalar(_SEALED):
        log.warning("audit_retention_needs_the_seal")
        return 0
    params = {"cutoff": cutoff, "max_events": AUDIT_EVENTS_PER_CALL, "dry_run": dry_run}
    return int(await db.scalar(_PURGE_AUDIT, params) or 0)


RETENTION = (
    DataClass(
        name="audit_events",
        description="The audit trail: who did what to which data, when and from where; "
        "deleted only as whole sealed batches older than the period",
        where="audit_events, audit_batches",
        setting="retention_audit_years",
        unit="years",
        legal_basis="HIPAA 45 CFR 164.316(b)(2)(i): documentation of the security rule's "
        "activities kept six years; at least six, whatever is configured",
        purge=purge_audit_events,
    ),
)
