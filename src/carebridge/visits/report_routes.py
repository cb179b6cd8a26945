"""Home visit API, the report: the nurse writes it (with photos) and submits it, a doctor asks
for changes or signs it off, and it downloads as a PDF. Rules: ``visits/report.py``."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Response, UploadFile

from carebridge.accounts.actors import AnyUser
from carebridge.platform.deps import Scope, Session
from carebridge.platform.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    ServiceUnavailable,
    TooLarge,
    Unauthenticated,
)
from carebridge.platform.problems import problem_responses
from carebridge.visits import report, report_files
from carebridge.visits.report_schemas import PhotoOut, ReportIn, ReportOut, ReviewIn

router = APIRouter(tags=["visits"])
_READ = problem_responses(Unauthenticated, Forbidden, NotFound, Invalid)
_WRITE = problem_responses(Unauthenticated, Forbidden, NotFound, Invalid, Conflict)
_UPLOAD = problem_responses(
    Unauthenticated, Forbidden, NotFound, Invalid, Conflict, TooLarge, ServiceUnavailable
)


def _file(media_type: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"content": {media_type: {}}, "description": "The file."}}


@router.get("/visits/{visit_id}/report", response_model=ReportOut, responses=_READ)
async def get_report(visit_id: uuid.UUID, actor: AnyUser, db: Session, scope: Scope) -> ReportOut:
    """The visit's report: its nurse (an empty draft, `version` 0, before the first save); a
    doctor once it is submitted (the ordering doctor, any doctor while it waits for review, the
    doctor reviewing it); the patient once it is signed off, without the care team's notes
    (`observations`, `rating`, `feedback`, `changes_requested`). Anyone else: 404. `actions`
    says what you may do now. Reads by anyone but the patient are audited."""
    return await report.get_report(db, scope, actor, visit_id)


@router.put("/visits/{visit_id}/report", response_model=ReportOut, responses=_WRITE)
async def save_report(
    visit_id: uuid.UUID, body: ReportIn, actor: AnyUser, db: Session, scope: Scope
) -> ReportOut:
    """The visit's nurse saves the whole report (it replaces the last save) while the visit is
    in progress or completed and the report is a draft or was sent back. Each vital is checked
    like a reading of the health record (422 `unknown_unit`, `impossible_value`,
    `value2_required`, `value2_not_used`, `derived_kind`, `measured_in_future`). 409
    `report_not_writable_now` (the visit's status) or `report_locked` (submitted, signed off)."""
    return await report.save_report(db, scope, actor, visit_id, body)


@router.post("/visits/{visit_id}/report/submit", response_model=ReportOut, responses=_WRITE)
async def submit_report(
    visit_id: uuid.UUID, actor: AnyUser, db: Session, scope: Scope
) -> ReportOut:
    """The visit's nurse submits the report of a completed visit for review: its vitals are
    written into the patient's health record as `visit` observations (replacing those of an
    earlier submission), and the ordering doctor (or the doctor who asked for changes) is told;
    otherwise it waits in every doctor's review queue. 409 `visit_not_completed`,
    `report_empty` (never saved), `report_locked`."""
    return await report.submit(db, scope, actor, visit_id)


@router.post("/visits/{visit_id}/report/review", response_model=ReportOut, responses=_WRITE)
async def review_report(
    visit_id: uuid.UUID, body: ReviewIn, actor: AnyUser, db: Session, scope: Scope
) -> ReportOut:
    """A doctor reviews a submitted report; the first to act becomes its only reviewer.
    `request_changes` (`changes` required: 422 `changes_required`) sends it back to the nurse;
    `sign_off` (`rating` 1 to 5 required: 422 `rating_required`; `feedback` for the nurse only)
    signs it and moves the visit to `signed_off`; the nurse and the patient are told. 409
    `report_not_submitted`, `report_taken` (another doctor reviews it)."""
    return await report.review(db, scope, actor, visit_id, body)


@router.post(
    "/visits/{visit_id}/report/photos", status_code=201, response_model=PhotoOut, responses=_UPLOAD
)
async def add_photo(
    visit_id: uuid.UUID,
    file: Annotated[UploadFile, File(description="The photo.")],
    actor: AnyUser,
    db: Session,
    scope: Scope,
    caption: Annotated[str | None, Form(max_length=report_files.CAPTION_LENGTH)] = None,
) -> PhotoOut:
    """The visit's nurse adds a photo to the report (`multipart/form-data`: `file`, optional
    `caption`, sealed) while they may edit it. JPEG, PNG, WebP or HEIC (kept as JPEG), decided
    by the content and re-encoded without metadata, at most `CAREBRIDGE_ATTACHMENT_MAX_BYTES`;
    encrypted at rest. Refused: 413 `attachment_too_large`; 422 `photo_not_image` and the
    attachment codes (`attachment_type_not_allowed`, `attachment_damaged`, ...),
    `photo_infected`; 503 `photo_scan_unavailable`; 409 `too_many_photos` (20)."""
    upload = report_files.PhotoUpload(
        filename=file.filename or "",
        data=await file.read(scope.settings.attachment_max_bytes + 1),
        declared_type=file.content_type,
        caption=(caption or "").strip() or None,
    )
    return await report_files.add_photo(db, scope, actor, visit_id, upload)


@router.get(
    "/visits/{visit_id}/report/photos/{photo_id}",
    response_class=Response,
    responses={**_file("image/*"), **_READ},
)
async def photo_file(
    visit_id: uuid.UUID, photo_id: uuid.UUID, actor: AnyUser, db: Session, scope: Scope
) -> Response:
    """A photo of the report, to anyone who may read it (audited)."""
    return await report_files.photo_file(db, scope, actor, visit_id, photo_id)


@router.delete("/visits/{visit_id}/report/photos/{photo_id}", status_code=204, responses=_WRITE)
async def delete_photo(
    visit_id: uuid.UUID, photo_id: uuid.UUID, actor: AnyUser, db: Session, scope: Scope
) -> Response:
    """The visit's nurse removes a photo while they may edit the report."""
    await report_files.delete_photo(db, scope, actor, visit_id, photo_id)
    return Response(status_code=204)


@router.get(
    "/visits/{visit_id}/report.pdf",
    response_class=Response,
    responses={**_file("application/pdf"), **_WRITE},
)
async def report_pdf(visit_id: uuid.UUID, actor: AnyUser, db: Session, scope: Scope) -> Response:
    """The report as a PDF: the patient once it is signed off, the nurse, the doctors who may
    read it (marked as a draft until signed off). What is for the care team only is not
    printed. Every download is audited."""
    return await report_files.report_pdf(db, scope, actor, visit_id)
