"""Periodic housekeeping of the platform itself."""

from __future__ import annotations

import structlog
from procrastinate import JobContext

from carebridge.platform.jobs import DEFAULT_RETRY, job_app, task_resources

log = structlog.get_logger(__name__)


@job_app.periodic(cron="17 3 * * *", periodic_id="daily")
@job_app.task(
    name="platform.purge_finished_jobs",
    queue="housekeeping",
    pass_context=True,
    retry=DEFAULT_RETRY,
)
async def purge_finished_jobs_task(context: JobContext, timestamp: int) -> None:
    """Delete finished jobs (succeeded, cancelled, aborted) older than the retention window.
    Failed jobs are kept: they are the record of what went wrong until someone looks."""
    hours = task_resources(context).settings.job_retention_days * 24
    await purge_finished_jobs(hours)
    log.info("finished_jobs_purged", older_than_hours=hours)


async def purge_finished_jobs(older_than_hours: int) -> None:
    await job_app.job_manager.delete_old_jobs(
        nb_hours=older_than_hours,
        include_failed=False,
        include_cancelled=True,
        include_aborted=True,
    )
