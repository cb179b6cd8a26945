"""The daily retention run (``compliance/retention.py``)."""

from __future__ import annotations

from procrastinate import JobContext

from carebridge.compliance.retention import apply
from carebridge.platform.context import CallScope
from carebridge.platform.jobs import DEFAULT_RETRY, job_app, task_resources


# Two runs never overlap: the job's lock keeps its jobs one at a time (a job whose worker died
# is run again by the housekeeping's retry of stalled jobs: tests/test_locked_jobs.py), and the
# run's advisory lock (compliance/retention.py), which a dead worker's connection releases,
# keeps a job and `carebridge retention run` apart; every purge skips rows another transaction
# holds.
@job_app.periodic(cron="37 3 * * *", periodic_id="daily")
@job_app.task(
    name="compliance.apply_retention",
    queue="compliance",
    lock="compliance.retention",
    pass_context=True,
    retry=DEFAULT_RETRY,
)
async def apply_retention_task(context: JobContext, timestamp: int) -> None:
    """Purge every class of data of what is older than its retention period."""
    resources = task_resources(context)
    await apply(resources.database, CallScope.system(resources.settings))
