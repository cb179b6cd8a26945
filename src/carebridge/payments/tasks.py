"""Background jobs of payments: refunds at the provider, and the sweep of refunds left pending.

A refund is decided by a row (``refund_pending``) written with the change that causes it; the job
is keyed by the payment (one queued at a time, never two running at once) and the provider call
by ``refund-<payment id>``, so a job run twice, or after a crash between the call and the commit,
refunds once.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import structlog
from procrastinate import JobContext

from carebridge.payments import service
from carebridge.platform.jobs import (
    DEFAULT_RETRY,
    defer_for_row,
    job_app,
    keyed_by_row,
    task_resources,
)

log = structlog.get_logger(__name__)

QUEUE = "payments"
# The job deferred after the commit normally runs at once; the sweep leaves it this long first.
SWEEP_AFTER = timedelta(minutes=2)


@keyed_by_row(lock="payment:{payment_id}", queueing_lock="refund:{payment_id}")
@job_app.task(name="payments.refund", queue=QUEUE, pass_context=True, retry=DEFAULT_RETRY)
async def refund_task(context: JobContext, payment_id: str) -> None:
    """Refund one payment at its provider (a provider error fails the job: it is retried)."""
    resources = task_resources(context)
    if await service.perform_refund(resources.database, resources.settings, uuid.UUID(payment_id)):
        log.info("payment_refunded", payment_id=payment_id)


async def defer_refund(payment_id: uuid.UUID) -> bool:
    """Queue the refund job of a payment unless one is already waiting; returns whether this
    call queued it."""
    return await defer_for_row(refund_task, payment_id=str(payment_id))


@job_app.periodic(cron="* * * * *", periodic_id="minutely")
@job_app.task(name="payments.sweep_refunds", queue=QUEUE, pass_context=True, retry=DEFAULT_RETRY)
async def sweep_refunds_task(context: JobContext, timestamp: int) -> None:
    """Re-queue refunds whose job was lost (deferred after a commit by a process that died,
    or out of retries)."""
    resources = task_resources(context)
    queued = 0
    for payment_id in await service.pending_refunds(resources.database, older_than=SWEEP_AFTER):
        queued += await defer_refund(payment_id)
    if queued:
        log.info("refunds_requeued", count=queued)
