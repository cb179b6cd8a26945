"""The patient's home visits in their data export: each visit (address, access notes, reason),
its steps, the nurse's report with its review, and the photos taken (opened from the sealed
storage). The nurse's position track is the nurse's, not exported: the visit keeps its distance
and times."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.platform.context import CallScope
from carebridge.platform.exporting import DomainExport, SealedFile, rows_of
from carebridge.platform.storage import sealed_storage_for
from carebridge.visits import sealed as columns
from carebridge.visits.models import Visit, VisitPhoto, VisitReport, VisitTransition
from carebridge.visits.report_files import photo_aad


async def export_patient(db: AsyncSession, scope: CallScope, patient_id: uuid.UUID) -> DomainExport:
    opener = scope.keyring.open_text
    visits = list(
        await db.scalars(
            select(Visit).where(Visit.patient_id == patient_id).order_by(Visit.created_at)
        )
    )
    ids = [row.id for row in visits]
    transitions = await db.scalars(
        select(VisitTransition)
        .where(VisitTransition.visit_id.in_(ids))
        .order_by(VisitTransition.visit_id, VisitTransition.seq)
    )
    reports = await db.scalars(select(VisitReport).where(VisitReport.visit_id.in_(ids)))
    photos = list(await db.scalars(select(VisitPhoto).where(VisitPhoto.visit_id.in_(ids))))
    visit_sealed = (columns.VISIT_ADDRESS, columns.VISIT_ACCESS_NOTES, columns.VISIT_REASON)
    report_sealed = (columns.REPORT_BODY, columns.REPORT_CHANGES, columns.REPORT_FEEDBACK)
    export = DomainExport(
        {
            "visits": rows_of(visits, opener, sealed=visit_sealed),
            "transitions": rows_of(transitions, opener, sealed=(columns.TRANSITION_REASON,)),
            "reports": rows_of(reports, opener, sealed=report_sealed),
            "photos": rows_of(
                photos, opener, sealed=(columns.PHOTO_CAPTION,), omit=("storage_key",)
            ),
        }
    )
    await export.add_sealed_files(
        sealed_storage_for(scope.settings, scope.keyring),
        "visits",
        (SealedFile(p.id, p.filename, p.storage_key, photo_aad(p.id)) for p in photos),
    )
    return export
