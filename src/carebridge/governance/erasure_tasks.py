"""The hourly erasure job: erase the patients whose grace period has ended, then delete the
files of what was erased (and of what the retention job purged)."""

from __future__ import annotations

import structlog
from procrastinate import JobContext

from carebridge.governance.erasure import erase_due
from carebridge.platform.jobs import DEFAULT_RETRY, job_app, task_resources
from carebridge.platform.storage import storage_for

log = structlog.get_logger(__name__)


@job_app.periodic(cron="41 * * * *", periodic_id="hourly")
@job_app.task(
    name="compliance.erase_due", queue="compliance", pass_context=True, retry=DEFAULT_RETRY
)
async def erase_due_task(context: JobContext, timestamp: int) -> None:
    """Erase every patient whose grace period has ended."""
    resources = task_resources(context)
    erased = await erase_due(
        resources.database, resources.settings, storage_for(resources.settings)
    )
    if erased:
        log.info("erasures_done", count=len(erased))
