"""The patient's payments and refunds, in their data export."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.payments.models import Payment
from carebridge.platform.context import CallScope
from carebridge.platform.exporting import DomainExport, rows_of


async def export_patient(db: AsyncSession, scope: CallScope, patient_id: uuid.UUID) -> DomainExport:
    payments = await db.scalars(
        select(Payment).where(Payment.patient_id == patient_id).order_by(Payment.created_at)
    )
    return DomainExport({"payments": rows_of(payments, scope.keyring.open_text)})
