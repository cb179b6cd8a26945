"""Background jobs of compliance: the daily retention run (``compliance/retention.py``)."""

from __future__ import annotations

from procrastinate import JobContext

from carebridge.compliance.retention import apply
from carebridge.platform.context import CallScope
from carebridge.platform.jobs import DEFAULT_RETRY, job_app, task_resources


# The job's lock keeps two of its jobs from running at once (a job whose worker died is run
# again by the housekeeping's retry of stalled jobs); the run's advisory lock keeps it apart
# from a `carebridge retention run` too.
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
