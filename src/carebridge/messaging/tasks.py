"""Background jobs of messaging: the malware scan of each attachment (when
``CAREBRIDGE_CLAMD_URL`` is set), and the sweep of attachments left pending.

The attachment's ``pending`` state is the row the job is keyed by (written with the message); the
job is deferred after that commit, queued once per attachment (``queueing_lock``), never run
twice at once (``lock``), retried with backoff while clamd cannot answer, and the sweep re-queues
any whose job was lost (deferred by a process that died, or out of retries).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

import structlog
from procrastinate import JobContext
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.messaging import scanning
from carebridge.platform.db import after_commit
from carebridge.platform.jobs import (
    DEFAULT_RETRY,
    defer_for_row,
    job_app,
    keyed_by_row,
    task_resources,
)

log = structlog.get_logger(__name__)

QUEUE = "messaging"
# The job deferred after the commit normally runs at once; the sweep leaves it this long first.
SWEEP_AFTER = timedelta(minutes=3)


@keyed_by_row(
    lock="attachment-scan:{attachment_id}", queueing_lock="attachment-scan:{attachment_id}"
)
@job_app.task(name="messaging.scan_attachment", queue=QUEUE, pass_context=True, retry=DEFAULT_RETRY)
async def scan_attachment_task(context: JobContext, attachment_id: str) -> None:
    """Scan one attachment with clamd and record whether it is clean."""
    resources = task_resources(context)
    state = await scanning.scan(resources.database, resources.settings, uuid.UUID(attachment_id))
    if state is not None:
        log.info("attachment_scanned", attachment_id=attachment_id, state=state)


async def defer_scan(attachment_id: uuid.UUID) -> bool:
    """Queue the scan of an attachment unless one is already waiting; whether this call
    queued it."""
    return await defer_for_row(scan_attachment_task, attachment_id=str(attachment_id))


def defer_scans_after_commit(db: AsyncSession, attachment_ids: Sequence[uuid.UUID]) -> None:
    async def defer() -> None:
        for attachment_id in attachment_ids:
            await defer_scan(attachment_id)

    defer.__qualname__ = "defer:messaging.scan_attachment"
    after_commit(db, defer)


@job_app.periodic(cron="* * * * *", periodic_id="minutely")
@job_app.task(name="messaging.sweep_scans", queue=QUEUE, pass_context=True, retry=DEFAULT_RETRY)
async def sweep_scans_task(context: JobContext, timestamp: int) -> None:
    """Re-queue the scans of attachments still pending a few minutes after they were sent."""
    resources = task_resources(context)
    queued = 0
    for attachment_id in await scanning.pending_scans(resources.database, older_than=SWEEP_AFTER):
        queued += await defer_scan(attachment_id)
    if queued:
        log.info("attachment_scans_requeued", count=queued)
