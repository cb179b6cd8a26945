"""The doctors the patient follows (told when they come online), in their data export."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.platform.context import CallScope
from carebridge.platform.exporting import DomainExport, rows_of
from carebridge.presence.models import Follow


async def export_patient(db: AsyncSession, scope: CallScope, patient_id: uuid.UUID) -> DomainExport:
    follows = await db.scalars(select(Follow).where(Follow.patient_id == patient_id))
    return DomainExport({"followed_doctors": rows_of(follows, scope.keyring.open_text)})
