"""What the patient consented to, when and from where (each acceptance and withdrawal, with the
document's kind, version and title), in their data export as ``consents.json``."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.compliance.consent_models import ConsentDocument, ConsentEvent
from carebridge.platform.context import CallScope
from carebridge.platform.exporting import DomainExport, rows_of

DOCUMENT = "consents"


async def export_patient(db: AsyncSession, scope: CallScope, patient_id: uuid.UUID) -> DomainExport:
    events = await db.scalars(
        select(ConsentEvent).where(ConsentEvent.user_id == patient_id).order_by(ConsentEvent.seq)
    )
    documents = await db.scalars(
        select(ConsentDocument).where(
            ConsentDocument.id.in_(
                select(ConsentEvent.document_id).where(ConsentEvent.user_id == patient_id)
            )
        )
    )
    return DomainExport(
        {
            "answers": rows_of(events, scope.keyring.open_text),
            "documents": rows_of(documents, scope.keyring.open_text, omit=("published_by_id",)),
        }
    )
