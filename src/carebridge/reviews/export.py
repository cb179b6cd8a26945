"""The reviews the patient wrote (and the doctors' replies), in their data export."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.platform.context import CallScope
from carebridge.platform.exporting import DomainExport, rows_of
from carebridge.reviews.models import Review


async def export_patient(db: AsyncSession, scope: CallScope, patient_id: uuid.UUID) -> DomainExport:
    reviews = await db.scalars(
        select(Review).where(Review.patient_id == patient_id).order_by(Review.created_at)
    )
    return DomainExport({"reviews": rows_of(reviews, scope.keyring.open_text)})
