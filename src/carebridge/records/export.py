"""The patient's health record in their data export: every section (observations, medications
and doses, symptoms, allergies, conditions, immunizations, documents), who it is shared with and
the emergency openings, and the documents' files (opened from the sealed storage)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.platform.context import CallScope
from carebridge.platform.crypto import SealedColumn
from carebridge.platform.exporting import DomainExport, SealedFile, rows_of
from carebridge.platform.storage import sealed_storage_for
from carebridge.records import sealed as columns
from carebridge.records.documents import aad
from carebridge.records.models import (
    Allergy,
    Condition,
    EmergencyAccess,
    Immunization,
    Medication,
    MedicationDose,
    Observation,
    RecordDocument,
    RecordGrant,
    Symptom,
)

# Each section: its name in records.json, its table, its sealed columns.
SECTIONS: tuple[tuple[str, Any, tuple[SealedColumn, ...]], ...] = (
    ("observations", Observation, (columns.OBSERVATION_NOTE,)),
    ("medications", Medication, (columns.MEDICATION_INSTRUCTIONS,)),
    ("medication_doses", MedicationDose, ()),
    ("symptoms", Symptom, (columns.SYMPTOM_NOTE,)),
    ("allergies", Allergy, (columns.ALLERGY_NOTE,)),
    ("conditions", Condition, (columns.CONDITION_NOTE,)),
    ("immunizations", Immunization, (columns.IMMUNIZATION_NOTE,)),
    ("shared_with", RecordGrant, ()),
    ("emergency_accesses", EmergencyAccess, (columns.EMERGENCY_REASON,)),
)


async def export_patient(db: AsyncSession, scope: CallScope, patient_id: uuid.UUID) -> DomainExport:
    opener = scope.keyring.open_text
    document: dict[str, Any] = {}
    for name, model, sealed in SECTIONS:
        rows = await db.scalars(
            select(model).where(model.patient_id == patient_id).order_by(model.created_at)
        )
        document[name] = rows_of(rows, opener, sealed=sealed)
    documents = list(
        await db.scalars(
            select(RecordDocument)
            .where(RecordDocument.patient_id == patient_id)
            .order_by(RecordDocument.created_at)
        )
    )
    document["documents"] = rows_of(documents, opener, omit=("storage_key",))
    export = DomainExport(document, summary=_summary(document))
    await export.add_sealed_files(
        sealed_storage_for(scope.settings, scope.keyring),
        "records",
        (SealedFile(row.id, row.filename, row.storage_key, aad(row.id)) for row in documents),
    )
    return export


def _summary(document: dict[str, Any]) -> list[str]:
    """What a reader looks for first: allergies, conditions, medications, immunizations."""
    lines = []
    for section, label, fields in (
        ("allergies", "Allergy", ("substance", "reaction", "severity")),
        ("conditions", "Condition", ("name", "status")),
        ("medications", "Medication", ("name", "dose", "route")),
        ("immunizations", "Immunization", ("vaccine", "given_on")),
    ):
        for item in document[section]:
            values = ", ".join(str(item[name]) for name in fields if item.get(name))
            lines.append(f"{label}: {values}")
    return lines
