"""The patient's profile in their data export (date of birth, address, emergency contact)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.directory.models import PatientProfile
from carebridge.directory.sealed import ADDRESS, DATE_OF_BIRTH, EMERGENCY_CONTACT
from carebridge.platform.context import CallScope
from carebridge.platform.exporting import DomainExport, row_of


async def export_patient(db: AsyncSession, scope: CallScope, patient_id: uuid.UUID) -> DomainExport:
    profile = await db.get(PatientProfile, patient_id)
    sealed = (DATE_OF_BIRTH, ADDRESS, EMERGENCY_CONTACT)
    return DomainExport(
        {
            "patient_profile": None
            if profile is None
            else row_of(profile, scope.keyring.open_text, sealed=sealed)
        }
    )
