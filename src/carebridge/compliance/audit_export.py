"""The accesses to the patient's data (the audit events naming them as subject), in their data
export as ``audit.json``: who did what to which of their objects, when, from where."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.compliance.models import AuditEvent
from carebridge.platform.context import CallScope
from carebridge.platform.exporting import DomainExport, rows_of

DOCUMENT = "audit"


async def export_patient(db: AsyncSession, scope: CallScope, patient_id: uuid.UUID) -> DomainExport:
    events = await db.scalars(
        select(AuditEvent)
        .where(AuditEvent.subject_id == patient_id)
        .order_by(AuditEvent.xact, AuditEvent.seq)
    )
    return DomainExport(
        {"accesses": rows_of(events, scope.keyring.open_text, omit=("xact", "request_id"))}
    )
