"""Background jobs of compliance: the seal of the audit trail.

Every minute, on every worker: the final audit events not sealed yet are sealed into batches of
at most ``CAREBRIDGE_AUDIT_SEAL_BATCH_SIZE`` (``compliance/seal.py``), a batch per transaction.
Safe to run twice or concurrently: each batch is made under an advisory lock held by its
transaction, so sealers queue up and the chain stays one. The jobs hold no procrastinate lock,
so a worker killed mid-batch leaves nothing waiting: its transaction rolls back and the next run
seals the batch.
"""

from __future__ import annotations

from procrastinate import JobContext

from carebridge.accounts.tokens import KeyStore
from carebridge.compliance.seal import seal_pending
from carebridge.platform.jobs import DEFAULT_RETRY, job_app, task_resources

QUEUE = "compliance"


@job_app.periodic(cron="* * * * *", periodic_id="minutely")
@job_app.task(
    name="compliance.seal_audit_trail", queue=QUEUE, pass_context=True, retry=DEFAULT_RETRY
)
async def seal_audit_trail_task(context: JobContext, timestamp: int) -> None:
    """Seal the audit events written since the last batch (each batch is logged as
    ``audit_sealed`` with its number and hash)."""
    resources = task_resources(context)
    settings = resources.settings
    await seal_pending(resources.database, KeyStore(settings), settings.audit_seal_batch_size)
