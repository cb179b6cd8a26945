"""Background jobs of prescriptions: rendering an issued prescription's PDF, and the sweep of PDFs
left pending.

The PDF's ``pending`` status is the row the job is keyed by (written with the issue itself); the
job is deferred after that commit, queued once per prescription (``queueing_lock``) and never run
twice at once (``lock``), and the sweep re-queues any whose job was lost (deferred by a process
that died, or out of retries).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import structlog
from procrastinate import JobContext
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.platform.db import after_commit
from carebridge.platform.jobs import (
    DEFAULT_RETRY,
    defer_for_row,
    job_app,
    keyed_by_row,
    task_resources,
)
from carebridge.prescriptions import documents

log = structlog.get_logger(__name__)

QUEUE = "prescriptions"
# The job deferred after the commit normally runs at once; the sweep leaves it this long first.
SWEEP_AFTER = timedelta(minutes=3)


@keyed_by_row(
    lock="prescription-pdf:{prescription_id}", queueing_lock="prescription-pdf:{prescription_id}"
)
@job_app.task(name="prescriptions.render_pdf", queue=QUEUE, pass_context=True, retry=DEFAULT_RETRY)
async def render_pdf_task(context: JobContext, prescription_id: str) -> None:
    """Render and store the PDF of one issued prescription."""
    resources = task_resources(context)
    await documents.render_and_store(
        resources.database, resources.settings, uuid.UUID(prescription_id)
    )


async def defer_render(prescription_id: uuid.UUID) -> bool:
    """Queue the PDF job of a prescription unless one is already waiting; returns whether this
    call queued it."""
    return await defer_for_row(render_pdf_task, prescription_id=str(prescription_id))


def defer_render_after_commit(db: AsyncSession, prescription_id: uuid.UUID) -> None:
    async def defer() -> None:
        await defer_render(prescription_id)

    defer.__qualname__ = "defer:prescriptions.render_pdf"
    after_commit(db, defer)


@job_app.periodic(cron="* * * * *", periodic_id="minutely")
@job_app.task(name="prescriptions.sweep_pdfs", queue=QUEUE, pass_context=True, retry=DEFAULT_RETRY)
async def sweep_pdfs_task(context: JobContext, timestamp: int) -> None:
    """Re-queue the PDFs still pending a few minutes after their prescription was issued."""
    resources = task_resources(context)
    queued = 0
    for prescription_id in await documents.pending_pdfs(resources.database, older_than=SWEEP_AFTER):
        queued += await defer_render(prescription_id)
    if queued:
        log.info("prescription_pdfs_requeued", count=queued)
