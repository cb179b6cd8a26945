"""Data export API: /api/v1/me/exports (the patient) and
/api/v1/admin/patients/{patient_id}/exports (an administrator on a patient's behalf)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from starlette.responses import Response

from carebridge.accounts.actors import AdminActor, PatientActor
from carebridge.compliance import export
from carebridge.compliance.export_models import DataExport
from carebridge.compliance.export_schemas import ExportOut
from carebridge.platform.deps import Scope, Session
from carebridge.platform.downloads import file_response
from carebridge.platform.errors import (
    Conflict,
    Forbidden,
    Gone,
    NotFound,
    RateLimited,
    Unauthenticated,
)
from carebridge.platform.problems import problem_responses

router = APIRouter(tags=["compliance"])


def _out(row: DataExport) -> ExportOut:
    return ExportOut.of(row, export.current_status(row))


@router.post(
    "/me/exports",
    status_code=202,
    response_model=ExportOut,
    responses=problem_responses(Unauthenticated, Forbidden, Conflict, RateLimited),
)
async def request_my_export(actor: PatientActor, db: Session, scope: Scope) -> ExportOut:
    """Ask for a copy of everything CareBridge holds about you: one ZIP with a JSON document
    per part of the service, your files and a readable PDF summary. It is prepared in the
    background (poll `GET /me/exports/{id}`; you are notified when it is ready) and can be
    downloaded for `CAREBRIDGE_EXPORT_DAYS` days. 409 `export_in_progress` while another is
    being prepared; 429 `export_rate_limited` beyond the daily limit."""
    return _out(await export.request_export(db, scope, actor, actor.id))


@router.get(
    "/me/exports/{export_id}",
    response_model=ExportOut,
    responses=problem_responses(Unauthenticated, Forbidden, NotFound),
)
async def get_my_export(export_id: uuid.UUID, actor: PatientActor, db: Session) -> ExportOut:
    """Where one of your exports stands: its status, size and until when it can be
    downloaded."""
    return _out(await export.get_export(db, actor, export_id))


@router.get(
    "/me/exports/{export_id}/download",
    response_class=Response,
    responses={
        200: {"content": {"application/zip": {}}, "description": "The export's ZIP."},
        **problem_responses(Unauthenticated, Forbidden, NotFound, Conflict, Gone),
    },
)
async def download_my_export(
    export_id: uuid.UUID, actor: PatientActor, db: Session, scope: Scope
) -> Response:
    """The ZIP of a ready export; only you can download it, and each download is recorded.
    409 `export_not_ready` while it is being prepared, 410 `export_expired` after its time."""
    found = await export.download(db, scope, actor, export_id)
    return file_response(found.content, "application/zip", found.filename)


@router.post(
    "/admin/patients/{patient_id}/exports",
    status_code=202,
    response_model=ExportOut,
    responses=problem_responses(Unauthenticated, Forbidden, NotFound, Conflict, RateLimited),
)
async def request_export_for_patient(
    patient_id: uuid.UUID, actor: AdminActor, db: Session, scope: Scope
) -> ExportOut:
    """Ask for a patient's data export on their behalf (a request they made by letter or by
    phone). The patient is notified and downloads it themselves: an administrator cannot.
    Recorded as `export.requested` with `on_behalf`. 404 `patient_not_found`."""
    return _out(await export.request_export(db, scope, actor, patient_id))
