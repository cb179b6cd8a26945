"""A home visit report's files: the nurse's photos (a wound) and the report printed as a PDF.

A photo is checked by its content (``platform.files.inspect``: an image, JPEG, PNG, WebP or HEIC
kept as JPEG, re-encoded without its metadata; 413 too large, 422 with that module's codes or
``photo_not_image``), scanned when clamd is configured (``platform.malware.check_clean``: 422
``photo_infected``, 503 ``photo_scan_unavailable``), then sealed in the storage with the
associated data ``visit-photo:<id>``. Whoever may read the report downloads its photos and its
PDF; every download is audited, the patient's too.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from carebridge.accounts.actors import Actor
from carebridge.accounts.service import names_of, time_zone_of
from carebridge.platform import files, malware
from carebridge.platform.context import CallScope
from carebridge.platform.crypto import KeyClass
from carebridge.platform.db import after_commit
from carebridge.platform.downloads import file_response
from carebridge.platform.errors import Conflict, Invalid, NotFound
from carebridge.platform.storage import sealed_storage_for, storage_for
from carebridge.records.vitals import SPECS
from carebridge.visits import service
from carebridge.visits.models import ReportStatus, Visit, VisitPhoto, VisitReport
from carebridge.visits.report import (
    body_of,
    label_of,
    new_report,
    photo_out,
    readable,
    the_nurses,
    writing_refusal,
)
from carebridge.visits.report_pdf import PrintedReport, render_report
from carebridge.visits.report_schemas import PhotoOut, VitalIn
from carebridge.visits.sealed import PHOTO_CAPTION

MOST_PHOTOS = 20
CAPTION_LENGTH = 500


@dataclass(frozen=True)
class PhotoUpload:
    filename: str
    data: bytes
    declared_type: str | None
    caption: str | None


# -- photos ---------------------------------------------------------------------------------------


def photo_aad(photo_id: uuid.UUID) -> bytes:
    return f"visit-photo:{photo_id}".encode()


async def add_photo(
    db: AsyncSession, scope: CallScope, actor: Actor, visit_id: uuid.UUID, upload: PhotoUpload
) -> PhotoOut:
    """Check the file by its content (an image: JPEG, PNG, WebP, HEIC kept as JPEG), scan it
    when clamd is configured, seal it and store it; the report is started if it was not."""
    visit, report = await the_nurses(db, scope, actor, visit_id)
    refusal = writing_refusal(visit, report)
    if refusal is not None:
        raise refusal
    count = await db.scalar(
        select(func.count()).select_from(VisitPhoto).where(VisitPhoto.visit_id == visit.id)
    )
    if (count or 0) >= MOST_PHOTOS:
        raise Conflict(f"A report holds at most {MOST_PHOTOS} photos.", code="too_many_photos")
    kept = await asyncio.to_thread(
        files.inspect,
        upload.filename,
        upload.data,
        upload.declared_type,
        max_bytes=scope.settings.attachment_max_bytes,
    )
    if kept.file_type.image_format is None:
        raise Invalid("Send a photo: JPEG, PNG, WebP or HEIC.", code="photo_not_image")
    await malware.check_clean(scope.settings, kept.data, what="photo")
    if report is None:
        db.add(new_report(scope, visit, actor.id))
    photo_id = uuid.uuid4()
    photo = VisitPhoto(
        id=photo_id,
        visit_id=visit.id,
        uploaded_by_id=actor.id,
        filename=kept.filename,
        content_type=kept.file_type.media_type,
        size=len(kept.data),
        storage_key=f"visits/{visit.id}/photos/{photo_id}",
    )
    photo.caption_sealed = scope.keyring.seal(
        PHOTO_CAPTION, photo, upload.caption, patient=visit.patient_id
    )
    db.add(photo)
    await db.flush()
    await sealed_storage_for(scope.settings, scope.keyring).put(
        photo.storage_key,
        kept.data,
        associated_data=photo_aad(photo.id),
        owner=(visit.patient_id, KeyClass.medical),
        db=db,
    )
    await db.refresh(photo)
    await service.audit(db, scope, actor, "visit.report.photo_added", visit, photo_id=str(photo.id))
    return photo_out(scope, photo)


async def _photo(db: AsyncSession, visit: Visit, photo_id: uuid.UUID) -> VisitPhoto:
    found: VisitPhoto | None = await db.scalar(
        select(VisitPhoto).where(VisitPhoto.id == photo_id, VisitPhoto.visit_id == visit.id)
    )
    if found is None:
        raise NotFound("No such photo.", code="photo_not_found")
    return found


async def photo_file(
    db: AsyncSession, scope: CallScope, actor: Actor, visit_id: uuid.UUID, photo_id: uuid.UUID
) -> Response:
    """The photo, to anyone who may read the report (audited, the patient's downloads too)."""
    visit, _ = await readable(db, scope, actor, visit_id)
    photo = await _photo(db, visit, photo_id)
    await service.audit(db, scope, actor, "visit.report.photo_read", visit, photo_id=str(photo.id))
    content = await sealed_storage_for(scope.settings, scope.keyring).get(
        photo.storage_key, associated_data=photo_aad(photo.id), db=db
    )
    return file_response(content, photo.content_type, photo.filename)


async def delete_photo(
    db: AsyncSession, scope: CallScope, actor: Actor, visit_id: uuid.UUID, photo_id: uuid.UUID
) -> None:
    """The nurse removes a photo while the report is theirs to change; the stored file goes
    once the deletion has committed."""
    visit, report = await the_nurses(db, scope, actor, visit_id)
    photo = await _photo(db, visit, photo_id)  # another visit's photo: 404 before anything
    refusal = writing_refusal(visit, report)
    if refusal is not None:
        raise refusal
    key = photo.storage_key
    await db.delete(photo)
    await service.audit(
        db, scope, actor, "visit.report.photo_deleted", visit, photo_id=str(photo_id)
    )
    storage = storage_for(scope.settings)

    async def remove_file() -> None:
        await storage.delete(key)

    remove_file.__qualname__ = "visits.remove_photo_file"
    after_commit(db, remove_file)


# -- the PDF --------------------------------------------------------------------------------------


def _reading(vital: VitalIn, zone: ZoneInfo) -> str:
    spec = SPECS[vital.kind]
    unit = spec.unit_of(vital.unit or spec.unit.code) or spec.unit
    value = f"{vital.value:g}" + ("" if vital.value2 is None else f"/{vital.value2:g}")
    at = "" if vital.measured_at is None else f" ({vital.measured_at.astimezone(zone):%H:%M})"
    return f"{spec.label}: {value} {unit.label}{at}"


async def printable(
    db: AsyncSession, scope: CallScope, visit: Visit, report: VisitReport
) -> PrintedReport:
    await scope.unlock(db, visit.patient_id)
    body = body_of(scope, report)
    zone = ZoneInfo(await time_zone_of(db, visit.patient_id))
    names = await names_of(
        db, {i for i in (visit.patient_id, report.nurse_id, report.reviewer_id) if i}
    )
    medications = []
    for given in body.medications_given:
        parts = [given.name, given.dose, given.route]
        if given.at is not None:
            parts.append(f"at {given.at.astimezone(zone):%H:%M}")
        medications.append(", ".join(part for part in parts if part))
    signed = report.status == ReportStatus.signed_off and report.reviewer_id is not None
    visited = visit.arrived_at or visit.completed_at or visit.window_start
    return PrintedReport(
        clinic_name=scope.settings.clinic_name,
        clinic_address=scope.settings.clinic_address,
        patient_name=names.get(visit.patient_id, ""),
        nurse_name=names.get(report.nurse_id, "") if report.nurse_id else "",
        visited_on=visited.astimezone(zone),
        service=label_of(visit),
        vitals=[_reading(vital, zone) for vital in body.vitals],
        interventions=body.interventions,
        medications=medications,
        recommendations=body.recommendations,
        signed_by=names.get(report.reviewer_id) if signed and report.reviewer_id else None,
        signed_at=report.signed_at.astimezone(zone) if signed and report.signed_at else None,
    )


async def report_pdf(
    db: AsyncSession, scope: CallScope, actor: Actor, visit_id: uuid.UUID
) -> Response:
    """The report as a PDF, to anyone who may read it (the patient once it is signed off); every
    download is audited."""
    visit, report = await readable(db, scope, actor, visit_id)
    if report is None:  # the nurse's, not written yet
        raise Conflict("Nothing is written in this report yet.", code="report_empty")
    await service.audit(db, scope, actor, "visit.report.pdf", visit, version=report.version)
    content = await asyncio.to_thread(render_report, await printable(db, scope, visit, report))
    day = (visit.completed_at or visit.window_start).date()
    return file_response(content, "application/pdf", f"visit-report-{day:%Y-%m-%d}.pdf")
