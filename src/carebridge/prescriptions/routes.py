"""Prescriptions API: a doctor writes, edits and issues prescriptions for their appointments;
patients read and download theirs; anyone may check a printed one on the public verify page
(``web/verify.py``)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from carebridge.accounts.actors import AnyUser, DoctorActor
from carebridge.platform.deps import Scope, Session
from carebridge.platform.downloads import file_response
from carebridge.platform.errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated
from carebridge.platform.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from carebridge.platform.problems import problem_responses
from carebridge.prescriptions import documents, service
from carebridge.prescriptions.schemas import (
    CancelIn,
    PrescriptionIn,
    PrescriptionOut,
    PrescriptionPage,
    PrescriptionPatch,
)

router = APIRouter(tags=["prescriptions"])
_CHANGE = problem_responses(Unauthenticated, Forbidden, NotFound, Conflict, Invalid)


@router.post(
    "/appointments/{appointment_id}/prescriptions",
    status_code=201,
    response_model=PrescriptionOut,
    responses=_CHANGE,
)
async def write_prescription(
    appointment_id: uuid.UUID,
    body: PrescriptionIn,
    actor: DoctorActor,
    db: Session,
    scope: Scope,
) -> PrescriptionOut:
    """Doctor: write a draft prescription for one of your appointments that is `in_progress` or
    `completed` (409 `appointment_not_open` otherwise). `diagnosis` and `notes` are encrypted at
    rest. Nothing reaches the patient until you issue it."""
    return await service.write(db, scope, actor, appointment_id, body)


@router.get(
    "/prescriptions",
    response_model=PrescriptionPage,
    responses=problem_responses(Unauthenticated, Invalid),
)
async def list_prescriptions(
    actor: AnyUser,
    db: Session,
    patient: uuid.UUID | None = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
) -> PrescriptionPage:
    """Prescriptions, newest first: patients their own (issued or cancelled), doctors the ones
    they wrote (drafts included; `patient` filters), admins all. No diagnosis here: read one."""
    page = await service.list_prescriptions(
        db, actor, patient_id=patient, cursor=cursor, limit=limit
    )
    return PrescriptionPage(items=page.items, next_cursor=page.next_cursor)


@router.get(
    "/prescriptions/{prescription_id}",
    response_model=PrescriptionOut,
    responses=problem_responses(Unauthenticated, NotFound),
)
async def get_prescription(
    prescription_id: uuid.UUID, actor: AnyUser, db: Session, scope: Scope
) -> PrescriptionOut:
    """One prescription with its diagnosis, notes and medication lines (the read is audited)."""
    return await service.read(db, scope, actor, prescription_id)


@router.patch("/prescriptions/{prescription_id}", response_model=PrescriptionOut, responses=_CHANGE)
async def update_prescription(
    prescription_id: uuid.UUID,
    body: PrescriptionPatch,
    actor: DoctorActor,
    db: Session,
    scope: Scope,
) -> PrescriptionOut:
    """Doctor: change a draft. Fields given replace the stored ones (`lines` replaces all
    lines, `null` clears a text). An issued or cancelled prescription answers 409 `not_draft`."""
    return await service.update(db, scope, actor, prescription_id, body)


@router.post(
    "/prescriptions/{prescription_id}/issue", response_model=PrescriptionOut, responses=_CHANGE
)
async def issue_prescription(
    prescription_id: uuid.UUID, actor: DoctorActor, db: Session, scope: Scope
) -> PrescriptionOut:
    """Doctor: issue a draft (at least one line, else 409 `no_lines`). It can no longer change;
    it gets a `verification_code`; the patient is told; its PDF is rendered in the background
    (`pdf_status` goes from `pending` to `ready`)."""
    return await service.issue(db, scope, actor, prescription_id)


@router.post(
    "/prescriptions/{prescription_id}/cancel", response_model=PrescriptionOut, responses=_CHANGE
)
async def cancel_prescription(
    prescription_id: uuid.UUID,
    body: CancelIn,
    actor: AnyUser,
    db: Session,
    scope: Scope,
) -> PrescriptionOut:
    """The prescribing doctor or an admin: cancel a draft or an issued prescription, with a
    `reason`. The verify page then says it is cancelled; the patient is told. 409
    `invalid_transition` if it already is."""
    return await service.cancel(db, scope, actor, prescription_id, body.reason)


@router.get(
    "/prescriptions/{prescription_id}/pdf",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}, "description": "The printable prescription."},
        **problem_responses(Unauthenticated, NotFound, Conflict),
    },
)
async def download_pdf(
    prescription_id: uuid.UUID,
    actor: AnyUser,
    db: Session,
    scope: Scope,
) -> Response:
    """The PDF of an issued prescription, for its patient, its doctor and admins. 409
    `pdf_not_ready` (with `Retry-After`) while it is being rendered, `not_issued` for a draft.
    Every download is recorded in the audit trail."""
    pdf = await documents.download(db, scope, actor, prescription_id)
    return file_response(pdf.content, "application/pdf", pdf.filename)
