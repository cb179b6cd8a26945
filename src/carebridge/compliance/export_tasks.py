"""Background jobs of the data export: building exports, the sweep of exports left unfinished,
and the deletion of expired ones.

The build job is deferred after the request's commit; the row is the truth: the job claims it
with a conditional update (``export.claim``), so a job queued twice (the request's and the
sweep's) or run by two workers builds it once. The sweep re-queues exports whose job was lost
(a process that died before deferring, a worker killed mid-build: its claim goes stale).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import structlog
from procrastinate import JobContext
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.compliance import export
from carebridge.platform.db import after_commit
from carebridge.platform.jobs import DEFAULT_RETRY, job_app, task_resources

log = structlog.get_logger(__name__)

QUEUE = "exports"
# The job deferred after the commit normally runs at once; the sweep leaves it this long first.
SWEEP_AFTER = timedelta(minutes=2)


@job_app.task(name="compliance.build_export", queue=QUEUE, pass_context=True, retry=DEFAULT_RETRY)
async def build_export_task(context: JobContext, export_id: str) -> None:
    """Build one patient's data export (a no-op when another job has it or it is done)."""
    resources = task_resources(context)
    await export.build(resources.database, resources.settings, uuid.UUID(export_id))


async def defer_build(export_id: uuid.UUID) -> None:
    """Queue the build of an export. No procrastinate lock: the row's claim is the lock (a
    second job for the same export finds it claimed or done and does nothing), and a lock held
    by a killed worker would hold the export back longer than its stale claim does."""
    await build_export_task.defer_async(export_id=str(export_id))


def defer_build_after_commit(db: AsyncSession, export_id: uuid.UUID) -> None:
    async def defer() -> None:
        await defer_build(export_id)

    defer.__qualname__ = "defer:compliance.build_export"
    after_commit(db, defer)


@job_app.periodic(cron="* * * * *", periodic_id="minutely")
@job_app.task(name="compliance.sweep_exports", queue=QUEUE, pass_context=True, retry=DEFAULT_RETRY)
async def sweep_exports_task(context: JobContext, timestamp: int) -> None:
    """Re-queue the exports left pending, or building under a dead worker's claim."""
    resources = task_resources(context)
    unfinished = await export.unfinished_exports(resources.database, older_than=SWEEP_AFTER)
    for export_id in unfinished:
        await defer_build(export_id)
    if unfinished:
        log.info("data_exports_requeued", count=len(unfinished))


@job_app.periodic(cron="*/10 * * * *", periodic_id="every-ten-minutes")
@job_app.task(name="compliance.expire_exports", queue=QUEUE, pass_context=True, retry=DEFAULT_RETRY)
async def expire_exports_task(context: JobContext, timestamp: int) -> None:
    """Delete the exports whose download time is over."""
    resources = task_resources(context)
    expired = await export.expire_exports(resources.database, resources.settings)
    if expired:
        log.info("data_exports_expired", count=expired)
