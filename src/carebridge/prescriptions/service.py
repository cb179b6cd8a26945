"""Prescriptions: a doctor writes one during or after an appointment, edits the draft, issues it
(immutable from then on, the database holds to it) or cancels it with a reason.

The diagnosis and the notes are sealed with the keyring, bound to the prescription and the field
(associated data ``prescription:<id>:<field>``): a ciphertext copied to another row or field
does not decrypt. Every read of them, every change and every PDF download is audited; the audit
rows hold ids only. Issuing tells the patient (in-app and email, no health details), marks the PDF
``pending`` and defers its rendering after the commit (``tasks``; a sweep catches lost jobs).
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import Role, User
from carebridge.compliance.service import record
from carebridge.notifications.service import notify
from carebridge.platform.context import CallScope, RequestContext
from carebridge.platform.errors import Conflict, Forbidden, NotFound
from carebridge.platform.pagination import Page, keyset_page
from carebridge.prescriptions.kinds import PRESCRIPTION_ISSUED
from carebridge.prescriptions.models import (
    PdfStatus,
    Prescription,
    PrescriptionLine,
    PrescriptionStatus,
)
from carebridge.prescriptions.policy import (
    may_cancel,
    may_change,
    prescribing_open,
    visible_prescriptions,
)
from carebridge.prescriptions.schemas import (
    LineIn,
    LineOut,
    PrescriptionIn,
    PrescriptionOut,
    PrescriptionPatch,
    PrescriptionSummary,
)
from carebridge.prescriptions.sealed import DIAGNOSIS, NOTES
from carebridge.scheduling import service as scheduling

# Verification codes: 16 characters without look-alikes (0/O, 1/I/L), printed in groups of 4.
_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
_CODE_LENGTH = 16


# -- reading --------------------------------------------------------------------------------------


async def get_prescription(
    db: AsyncSession, actor: Actor, prescription_id: uuid.UUID, *, lock: bool = False
) -> Prescription:
    """A prescription the caller may see; 404 otherwise, exactly as if it did not exist."""
    statement = visible_prescriptions(actor).where(Prescription.id == prescription_id)
    if lock:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    row: Prescription | None = await db.scalar(statement)
    if row is None:
        raise NotFound("No such prescription.")
    return row


async def _names(db: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    rows = await db.execute(select(User.id, User.name).where(User.id.in_(ids)))
    return {row.id: row.name for row in rows}


async def _lines(db: AsyncSession, prescription_id: uuid.UUID) -> list[PrescriptionLine]:
    rows = await db.scalars(
        select(PrescriptionLine)
        .where(PrescriptionLine.prescription_id == prescription_id)
        .order_by(PrescriptionLine.position)
    )
    return list(rows)


def _summary(row: Prescription, names: dict[uuid.UUID, str]) -> dict[str, Any]:
    return {
        "id": row.id,
        "appointment_id": row.appointment_id,
        "doctor_id": row.doctor_id,
        "doctor_name": names.get(row.doctor_id, ""),
        "patient_id": row.patient_id,
        "patient_name": names.get(row.patient_id, ""),
        "status": PrescriptionStatus(row.status),
        "issued_at": row.issued_at,
        "cancelled_at": row.cancelled_at,
        "pdf_status": None if row.pdf_status is None else PdfStatus(row.pdf_status),
        "created_at": row.created_at,
    }


async def audit(
    db: AsyncSession,
    actor: Actor | None,
    row: Prescription,
    action: str,
    context: RequestContext,
    **details: Any,
) -> None:
    await record(
        db,
        action=action,
        actor_id=None if actor is None else actor.id,
        actor_role=None if actor is None else actor.role,
        resource_type="prescription",
        resource_id=row.id,
        subject_id=row.patient_id,
        context=context,
        **details,
    )


async def _out(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    row: Prescription,
    *,
    audit_read: bool = False,
) -> PrescriptionOut:
    """The full answer: opens the sealed fields. A plain read is audited first (so a failed one
    is on record too); a change is audited by its own row."""
    if audit_read:
        await audit(db, actor, row, "prescription.read", scope.origin)
    await scope.unlock(db, row.patient_id)
    diagnosis = scope.keyring.open_text(DIAGNOSIS, row)
    notes = scope.keyring.open_text(NOTES, row)
    names = await _names(db, {row.doctor_id, row.patient_id})
    lines = [LineOut.model_validate(line) for line in await _lines(db, row.id)]
    return PrescriptionOut(
        **_summary(row, names),
        diagnosis=diagnosis,
        notes=notes,
        lines=lines,
        verification_code=row.verification_code,
        cancel_reason=row.cancel_reason,
        updated_at=row.updated_at,
    )


async def read(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    prescription_id: uuid.UUID,
) -> PrescriptionOut:
    """One prescription with its diagnosis, notes and lines."""
    row = await get_prescription(db, actor, prescription_id)
    return await _out(db, scope, actor, row, audit_read=True)


async def read_lines(
    db: AsyncSession, scope: CallScope, actor: Actor, prescription_id: uuid.UUID
) -> tuple[Prescription, list[PrescriptionLine]]:
    """A prescription the caller may see with its lines in order (404 otherwise), for another
    domain that copies them (the health record's medication list); audited as a read."""
    row = await get_prescription(db, actor, prescription_id)
    await audit(db, actor, row, "prescription.read", scope.origin)
    return row, await _lines(db, row.id)


async def list_prescriptions(
    db: AsyncSession,
    actor: Actor,
    *,
    patient_id: uuid.UUID | None = None,
    cursor: str | None = None,
    limit: int = 25,
) -> Page[PrescriptionSummary]:
    """Newest first: the patient's own, the doctor's written ones, all for admins."""
    statement = visible_prescriptions(actor)
    if patient_id is not None:
        statement = statement.where(Prescription.patient_id == patient_id)
    page = await keyset_page(db, statement, Prescription, cursor=cursor, limit=limit)
    rows: Sequence[Prescription] = page.items
    names = await _names(db, {r.doctor_id for r in rows} | {r.patient_id for r in rows})
    items = [PrescriptionSummary(**_summary(row, names)) for row in rows]
    return Page(items=items, next_cursor=page.next_cursor)


# -- writing --------------------------------------------------------------------------------------


def _check_author(actor: Actor, row: Prescription) -> None:
    """Visible to its patient and to admins too, but only its doctor changes it."""
    if not may_change(actor, row):
        raise Forbidden(
            "Only the doctor who wrote this prescription may change it.", code="not_the_author"
        )


def _check_draft(row: Prescription) -> None:
    if row.status != PrescriptionStatus.draft:
        raise Conflict(
            f"This prescription is {row.status}: only a draft may be changed.",
            code="not_draft",
            current_status=row.status,
        )


async def _replace_lines(db: AsyncSession, row: Prescription, lines: list[LineIn]) -> None:
    await db.execute(delete(PrescriptionLine).where(PrescriptionLine.prescription_id == row.id))
    for position, line in enumerate(lines, start=1):
        db.add(PrescriptionLine(prescription_id=row.id, position=position, **line.model_dump()))


async def write(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    appointment_id: uuid.UUID,
    body: PrescriptionIn,
) -> PrescriptionOut:
    """A draft prescription for one of the doctor's appointments, under way or completed."""
    if actor.role != Role.doctor:
        raise Forbidden("Only doctors write prescriptions.", code="wrong_role")
    appointment = await scheduling.get_appointment(db, actor, appointment_id)
    if not prescribing_open(appointment):
        raise Conflict(
            f"This appointment is {appointment.status}: prescribe during or after it.",
            code="appointment_not_open",
            current_status=appointment.status,
        )
    row = Prescription(
        id=uuid.uuid4(),  # known before the insert: it is bound into the sealed fields
        appointment_id=appointment.id,
        doctor_id=appointment.doctor_id,
        patient_id=appointment.patient_id,
        status=PrescriptionStatus.draft,
    )
    await scope.unlock(db, row.patient_id)
    row.diagnosis_sealed = scope.keyring.seal(DIAGNOSIS, row, body.diagnosis)
    row.notes_sealed = scope.keyring.seal(NOTES, row, body.notes)
    db.add(row)
    await db.flush()
    await _replace_lines(db, row, body.lines)
    await db.flush()
    await db.refresh(row)
    await audit(db, actor, row, "prescription.created", scope.origin, lines=len(body.lines))
    return await _out(db, scope, actor, row)


async def update(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    prescription_id: uuid.UUID,
    body: PrescriptionPatch,
) -> PrescriptionOut:
    """Change a draft: the fields given replace the stored ones."""
    row = await get_prescription(db, actor, prescription_id, lock=True)
    _check_author(actor, row)
    _check_draft(row)
    await scope.unlock(db, row.patient_id)
    given = body.model_fields_set
    if "diagnosis" in given:
        row.diagnosis_sealed = scope.keyring.seal(DIAGNOSIS, row, body.diagnosis)
    if "notes" in given:
        row.notes_sealed = scope.keyring.seal(NOTES, row, body.notes)
    if "lines" in given:
        await _replace_lines(db, row, body.lines or [])
    await db.flush()
    await db.refresh(row)
    await audit(db, actor, row, "prescription.updated", scope.origin, fields=sorted(given))
    return await _out(db, scope, actor, row)


def new_verification_code() -> str:
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(_CODE_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, _CODE_LENGTH, 4))


def normalize_code(code: str) -> str | None:
    """A code as typed or scanned (any case, spaces, dashes) in its printed form; None if it
    cannot be one."""
    raw = re.sub(r"[\s-]", "", code).upper()
    if len(raw) != _CODE_LENGTH or any(c not in _CODE_ALPHABET for c in raw):
        return None
    return "-".join(raw[i : i + 4] for i in range(0, _CODE_LENGTH, 4))


async def issue(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    prescription_id: uuid.UUID,
) -> PrescriptionOut:
    """Issue a draft: it can no longer change; the patient is told; the PDF is rendered."""
    from carebridge.prescriptions.tasks import defer_render_after_commit  # tasks import us

    row = await get_prescription(db, actor, prescription_id, lock=True)
    _check_author(actor, row)
    _check_draft(row)
    if not await _lines(db, row.id):
        raise Conflict("Add at least one medication line before issuing.", code="no_lines")
    row.status = PrescriptionStatus.issued
    row.issued_at = datetime.now(UTC)
    row.verification_code = new_verification_code()
    row.pdf_status = PdfStatus.pending
    await db.flush()
    await db.refresh(row)
    await audit(db, actor, row, "prescription.issued", scope.origin)
    await _tell_patient(db, row, "New prescription", "issued a prescription for you")
    defer_render_after_commit(db, row.id)
    return await _out(db, scope, actor, row)


async def cancel(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    prescription_id: uuid.UUID,
    reason: str,
) -> PrescriptionOut:
    """Cancel a draft or an issued prescription (its doctor, or an admin). The verify page then
    says it is cancelled."""
    if actor.role not in (Role.doctor, Role.admin):
        raise Forbidden("Only the prescribing doctor or an admin cancels.", code="wrong_role")
    row = await get_prescription(db, actor, prescription_id, lock=True)
    if not may_cancel(actor, row):
        _check_author(actor, row)  # refuses: a doctor who did not write it
    if row.status == PrescriptionStatus.cancelled:
        raise Conflict(
            "This prescription is already cancelled.",
            code="invalid_transition",
            current_status=row.status,
        )
    was_issued = row.status == PrescriptionStatus.issued
    row.status = PrescriptionStatus.cancelled
    row.cancelled_at = datetime.now(UTC)
    row.cancel_reason = reason
    await db.flush()
    await db.refresh(row)
    await audit(db, actor, row, "prescription.cancelled", scope.origin, was_issued=was_issued)
    if was_issued:
        await _tell_patient(db, row, "Prescription cancelled", "cancelled a prescription")
    return await _out(db, scope, actor, row)


async def _tell_patient(db: AsyncSession, row: Prescription, title: str, what: str) -> None:
    names = await _names(db, {row.doctor_id})
    day = (row.issued_at or row.created_at).strftime("%d %B %Y")
    await notify(
        db,
        row.patient_id,
        PRESCRIPTION_ISSUED.name,
        title,
        f"{names.get(row.doctor_id, 'Your doctor')} {what} (dated {day}). "
        "Open CareBridge to see it and download the PDF.",
        data={"prescription_id": str(row.id), "status": row.status},
        link=f"/prescriptions/{row.id}",
    )


# -- the public verify page -----------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    """What anyone holding the code may learn: no health information, no patient."""

    code: str
    valid: bool
    doctor_name: str
    issued_at: datetime
    cancelled_at: datetime | None


async def verify(db: AsyncSession, code: str) -> Verification | None:
    printed = normalize_code(code)
    if printed is None:
        return None
    row = (
        await db.execute(
            select(
                Prescription.status, Prescription.issued_at, Prescription.cancelled_at, User.name
            )
            .join(User, User.id == Prescription.doctor_id)
            .where(
                Prescription.verification_code == printed,
                Prescription.issued_at.is_not(None),
            )
        )
    ).one_or_none()
    if row is None:
        return None
    return Verification(
        code=printed,
        valid=row.status == PrescriptionStatus.issued,
        doctor_name=row.name,
        issued_at=row.issued_at,
        cancelled_at=row.cancelled_at,
    )
