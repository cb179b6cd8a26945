"""Seal metrics, read at scrape time: what an external system records to witness the trail
(the latest hash cannot be changed afterwards without the witness noticing)."""

from __future__ import annotations

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.compliance.models import AuditEvent
from carebridge.compliance.seal import tip
from carebridge.platform.metrics import Metrics


async def scrape(metrics: Metrics, db: AsyncSession) -> None:
    number = metrics.gauge(
        "carebridge_audit_sealed_batch", "Number of the last sealed audit batch", []
    )
    pending = metrics.gauge(
        "carebridge_audit_pending_events", "Audit events written after the last sealed batch", []
    )
    latest = metrics.gauge(
        "carebridge_audit_seal_info", "The last sealed audit batch and its hash", ["number", "hash"]
    )
    last = await tip(db)
    after = tuple_(AuditEvent.xact, AuditEvent.seq) > last.position
    waiting = await db.scalar(select(func.count()).select_from(AuditEvent).where(after))
    number.set(last.number)
    pending.set(waiting or 0)
    latest.clear()
    if last.number:
        latest.labels(number=str(last.number), hash=last.hash.hex()).set(1)
