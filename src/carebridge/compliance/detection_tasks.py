"""The detection rules' periodic job (``compliance/detection.py``).

It holds no queue lock: two runs at once (two workers, or a run late by a minute) exclude each
other on the row of the trail position, locked in each batch's transaction. A worker killed
mid-batch loses its transaction, and with it the lock: the next run reads the batch again
(``tests/test_locked_jobs.py``, ``test_a_detection_run_whose_worker_was_killed``)."""

from __future__ import annotations

import structlog
from procrastinate import JobContext

from carebridge.compliance.detection import detect
from carebridge.platform.jobs import DEFAULT_RETRY, job_app, task_resources

log = structlog.get_logger(__name__)

QUEUE = "compliance"


@job_app.periodic(cron="* * * * *", periodic_id="minutely")
@job_app.task(
    name="compliance.detect_alerts",
    queue=QUEUE,
    pass_context=True,
    retry=DEFAULT_RETRY,
)
async def detect_alerts_task(context: JobContext, timestamp: int) -> None:
    """Read the audit events written since the last run and raise the security alerts the
    detection rules find."""
    resources = task_resources(context)
    raised = await detect(resources.database, resources.settings)
    if raised:
        log.info("security_alerts_raised", count=raised)
