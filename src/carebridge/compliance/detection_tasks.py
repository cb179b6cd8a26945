"""The detection rules' periodic job (``compliance/detection.py``)."""

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
    lock="compliance.detect_alerts",
)
async def detect_alerts_task(context: JobContext, timestamp: int) -> None:
    """Read the audit events written since the last run and raise the security alerts the
    detection rules find."""
    resources = task_resources(context)
    raised = await detect(resources.database, resources.settings)
    if raised:
        log.info("security_alerts_raised", count=raised)
