"""The patient's prescriptions (diagnosis, notes, lines) and their printed PDFs where rendered,
in their data export."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.platform.context import CallScope
from carebridge.platform.exporting import DomainExport, ExportFile, rows_of
from carebridge.platform.storage import FileMissing, storage_for
from carebridge.prescriptions.models import PdfStatus, Prescription, PrescriptionLine
from carebridge.prescriptions.sealed import DIAGNOSIS, NOTES


async def export_patient(db: AsyncSession, scope: CallScope, patient_id: uuid.UUID) -> DomainExport:
    # Drafts too (their status says so): everything CareBridge holds about the patient.
    prescriptions = list(
        await db.scalars(
            select(Prescription)
            .where(Prescription.patient_id == patient_id)
            .order_by(Prescription.created_at)
        )
    )
    lines = await db.scalars(
        select(PrescriptionLine)
        .where(PrescriptionLine.prescription_id.in_([row.id for row in prescriptions]))
        .order_by(PrescriptionLine.prescription_id, PrescriptionLine.position)
    )
    export = DomainExport(
        {
            "prescriptions": rows_of(
                prescriptions, scope.keyring.open_text, sealed=(DIAGNOSIS, NOTES), omit=("pdf_key",)
            ),
            "prescription_lines": rows_of(lines, scope.keyring.open_text),
        }
    )
    storage = storage_for(scope.settings)
    for row in prescriptions:
        if row.pdf_status != PdfStatus.ready or row.pdf_key is None:
            continue
        try:
            data = await storage.get(row.pdf_key)
        except FileMissing:
            continue  # re-rendered on the next download; the JSON holds what it says
        export.files.append(ExportFile(f"files/prescriptions/{row.id}.pdf", data))
    return export
