"""The PDF of an issued prescription: rendering it (the job's body), finding the ones left
pending (the sweep's), and handing it to the people allowed to download it (audited).

Rendering is idempotent: it reads the prescription, draws the PDF, writes it under a key that
depends on the prescription only (a second run overwrites the same file) and marks it ready only
while it is still ``pending``. The PDF's fields are the only ones the immutability trigger lets
change on an issued prescription.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import User
from carebridge.config import Settings
from carebridge.directory.models import DoctorProfile
from carebridge.platform.context import CallScope
from carebridge.platform.db import Database
from carebridge.platform.errors import Conflict
from carebridge.platform.storage import FileMissing, Storage, storage_for
from carebridge.prescriptions.models import (
    PdfStatus,
    Prescription,
    PrescriptionLine,
    PrescriptionStatus,
)
from carebridge.prescriptions.pdf import PrintedLine, PrintedPrescription, render_prescription
from carebridge.prescriptions.service import audit, get_prescription

log = structlog.get_logger(__name__)

_Doctor = aliased(User)
_Patient = aliased(User)


def pdf_key(prescription_id: uuid.UUID) -> str:
    return f"prescriptions/{prescription_id}.pdf"


def verify_url(settings: Settings, code: str) -> str:
    return f"{settings.public_base_url}/verify/{code}"


async def printable(
    db: AsyncSession, settings: Settings, prescription_id: uuid.UUID
) -> PrintedPrescription | None:
    """What the PDF shows, if the prescription is issued and its PDF still pending."""
    found = (
        await db.execute(
            select(Prescription, _Doctor.name, DoctorProfile.license_number, _Patient.name)
            .join(_Doctor, _Doctor.id == Prescription.doctor_id)
            .join(_Patient, _Patient.id == Prescription.patient_id)
            .outerjoin(DoctorProfile, DoctorProfile.user_id == Prescription.doctor_id)
            .where(Prescription.id == prescription_id)
        )
    ).one_or_none()
    if found is None:
        return None
    row, doctor, license_number, patient = found
    if row.pdf_status != PdfStatus.pending or row.issued_at is None or not row.verification_code:
        return None
    lines = await db.scalars(
        select(PrescriptionLine)
        .where(PrescriptionLine.prescription_id == row.id)
        .order_by(PrescriptionLine.position)
    )
    return PrintedPrescription(
        clinic_name=settings.clinic_name,
        clinic_address=settings.clinic_address,
        doctor_name=doctor,
        license_number=license_number,
        patient_name=patient,
        issued_at=row.issued_at,
        lines=[
            PrintedLine(
                name=line.name,
                strength=line.strength,
                dose=line.dose,
                route=line.route,
                frequency=line.frequency,
                duration=line.duration,
                quantity=line.quantity,
                refills=line.refills,
                instructions=line.instructions,
            )
            for line in lines
        ],
        verification_code=row.verification_code,
        verify_url=verify_url(settings, row.verification_code),
    )


async def render_and_store(
    database: Database, settings: Settings, prescription_id: uuid.UUID
) -> bool:
    """Render and store the PDF of one prescription; False when there was nothing to do."""
    async with database.transaction() as db:
        data = await printable(db, settings, prescription_id)
    if data is None:
        return False
    content = await asyncio.to_thread(render_prescription, data)
    key = pdf_key(prescription_id)
    await storage_for(settings).put(key, content)
    async with database.transaction() as db:
        await db.execute(
            update(Prescription)
            .where(Prescription.id == prescription_id, Prescription.pdf_status == PdfStatus.pending)
            .values(pdf_status=PdfStatus.ready, pdf_key=key, pdf_rendered_at=datetime.now(UTC))
        )
    log.info("prescription_pdf_rendered", prescription_id=str(prescription_id), size=len(content))
    return True


async def pending_pdfs(
    database: Database, *, older_than: timedelta, limit: int = 500
) -> list[uuid.UUID]:
    """Prescriptions whose PDF has waited longer than ``older_than`` (their job was lost)."""
    async with database.transaction() as db:
        rows = await db.scalars(
            select(Prescription.id)
            .where(
                Prescription.pdf_status == PdfStatus.pending,
                Prescription.issued_at < datetime.now(UTC) - older_than,
            )
            .order_by(Prescription.issued_at)
            .limit(limit)
        )
        return list(rows)


@dataclass(frozen=True)
class Download:
    filename: str
    content: bytes


def _not_ready() -> Conflict:
    return Conflict(
        "The PDF is being prepared; try again in a few seconds.",
        code="pdf_not_ready",
        headers={"Retry-After": "5"},
        keep_changes=True,
    )


async def download(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    prescription_id: uuid.UUID,
    storage: Storage | None = None,
) -> Download:
    """The PDF, for its patient, its doctor and admins (404 for anyone else); each download is
    a row of the audit trail."""
    from carebridge.prescriptions.tasks import defer_render_after_commit  # tasks import us

    row = await get_prescription(db, actor, prescription_id, lock=True)
    if row.status == PrescriptionStatus.draft:
        raise Conflict("A draft has no PDF: issue it first.", code="not_issued")
    if row.pdf_status != PdfStatus.ready or row.pdf_key is None:
        raise _not_ready()
    try:
        content = await (storage or storage_for(scope.settings)).get(row.pdf_key)
    except FileMissing:
        # Lost from storage (a restored backup, a wiped volume): render it again.
        log.error("prescription_pdf_missing", prescription_id=str(row.id))
        row.pdf_status = PdfStatus.pending
        await db.flush()
        defer_render_after_commit(db, row.id)
        raise _not_ready() from None
    await audit(db, actor, row, "prescription.pdf_downloaded", scope.origin)
    return Download(filename=f"prescription-{row.verification_code}.pdf", content=content)
