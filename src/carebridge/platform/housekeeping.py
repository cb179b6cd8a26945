"""Periodic housekeeping of the platform itself, and the retention of finished jobs."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import structlog
from procrastinate import JobContext
from procrastinate.exceptions import ConnectorException, UniqueViolation
from procrastinate.jobs import Job, Status
from procrastinate.manager import QUEUEING_LOCK_CONSTRAINT
from sqlalchemy import BigInteger, DateTime, Text, and_, cast, column, func, select, table
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.platform.context import CallScope
from carebridge.platform.jobs import DEFAULT_RETRY, job_app, task_resources
from carebridge.platform.retention import DataClass, purge_rows

log = structlog.get_logger(__name__)


# Finished jobs (succeeded, cancelled, aborted) are a class of the daily retention run
# (``compliance/retention.py``). Failed jobs are kept: they are the record of what went wrong
# until someone looks.
_JOBS = table("procrastinate_jobs", column("id", BigInteger), column("status", Text))
_EVENTS = table(
    "procrastinate_events", column("job_id", BigInteger), column("at", DateTime(timezone=True))
)
FINISHED = ("succeeded", "cancelled", "aborted")


async def purge_finished_jobs(
    db: AsyncSession, scope: CallScope, cutoff: datetime, dry_run: bool
) -> int:
    """Finished jobs whose last event (their end) is older than ``cutoff``."""
    ended_at = (
        select(func.max(_EVENTS.c.at)).where(_EVENTS.c.job_id == _JOBS.c.id).scalar_subquery()
    )
    condition = and_(cast(_JOBS.c.status, Text).in_(FINISHED), ended_at < cutoff)
    return await purge_rows(db, _JOBS.c.id, condition, dry_run)


RETENTION = (
    DataClass(
        name="jobs",
        description="Finished background jobs (succeeded, cancelled, aborted) and their events; "
        "failed jobs are kept until someone deletes them",
        where="procrastinate_jobs, procrastinate_events",
        setting="job_retention_days",
        unit="days",
        legal_basis="GDPR Art. 5(1)(e) storage limitation: operational records, no need once "
        "the job is done",
        purge=purge_finished_jobs,
    ),
)


# No lock of its own: a run whose worker died would hold it, the next run would wait behind
# it, and only a run of this task could free it.
@job_app.periodic(cron="* * * * *", periodic_id="minutely")
@job_app.task(
    name="platform.retry_stalled_jobs",
    queue="housekeeping",
    pass_context=True,
    retry=DEFAULT_RETRY,
)
async def retry_stalled_jobs_task(context: JobContext, timestamp: int) -> None:
    """Run again the jobs of workers that stopped sending heartbeats (killed, or hung)."""
    await retry_stalled_jobs(task_resources(context).settings.worker_stalled_seconds)


class WorkerLost(Exception):
    """The worker running a job stopped sending heartbeats: the job ended without an outcome."""


async def retry_stalled_jobs(seconds_since_heartbeat: float) -> None:
    """Handle each ``doing`` job whose worker has been silent for ``seconds_since_heartbeat``
    as if the job had raised :class:`WorkerLost`: back to ``todo`` when its task's retry
    policy retries it (same backoff, and the run counts as an attempt, so a job that kills its
    worker every time stops once its attempts are spent), ``failed`` otherwise.

    The job keeps its row and its lock: it goes back to ``todo`` ahead of any job of the same
    lock deferred since (the lower id runs first), and leaves ``doing``, so those can run after
    it. If a job with the same queueing lock is already waiting (the domain's sweep queued one),
    that one does the work: the stalled job is marked ``aborted``."""
    manager = job_app.job_manager
    for job in await manager.get_stalled_jobs(seconds_since_heartbeat=seconds_since_heartbeat):
        try:
            await _retry_or_fail(job)
        except ConnectorException as error:
            if not isinstance(error.__cause__, psycopg.errors.RaiseException):
                raise
            # procrastinate refused: the job left ``doing`` meanwhile (its worker was alive
            # after all and finished it, or another run of this task got there first).
            log.info("stalled_job_moved_on", job_id=job.id, task=job.task_name)


async def _retry_or_fail(job: Job) -> None:
    assert job.id is not None
    manager = job_app.job_manager
    task = job_app.tasks.get(job.task_name)
    retry = task.get_retry_exception(WorkerLost(), job) if task is not None else None
    if retry is None:
        await manager.finish_job_by_id_async(job.id, Status.FAILED, delete_job=False)
        log.warning("stalled_job_failed", job_id=job.id, task=job.task_name, runs=job.attempts + 1)
        return
    decision = retry.retry_decision
    try:
        await manager.retry_job(
            job,
            retry_at=decision.retry_at or datetime.now(UTC),
            priority=decision.priority,
            queue=decision.queue,
            lock=decision.lock,
        )
    except UniqueViolation as error:
        if error.constraint_name != QUEUEING_LOCK_CONSTRAINT:
            raise
        await manager.finish_job_by_id_async(job.id, Status.ABORTED, delete_job=False)
        log.warning("stalled_job_superseded", job_id=job.id, task=job.task_name)
        return
    log.warning("stalled_job_retried", job_id=job.id, task=job.task_name, runs=job.attempts + 1)
