"""The patient's "Download my data" page (/account/data): ask for an export, follow it while it
is prepared (htmx polls the status fragment), download it while it is valid. Every rule is the
service's (``compliance.export``): the same checks and audit rows as the API's."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from carebridge.accounts.actors import Actor
from carebridge.compliance import export
from carebridge.compliance.export_models import IN_PROGRESS
from carebridge.platform.deps import Scope, Session
from carebridge.platform.downloads import file_response
from carebridge.platform.errors import CareBridgeError
from carebridge.web.callers import WebPatient
from carebridge.web.pages import redirect, render
from carebridge.web.record_documents import size_of
from carebridge.web.records import refused
from carebridge.web.session import Csrf

router = APIRouter(include_in_schema=False)


async def _status_values(db: Session, actor: Actor) -> dict[str, Any]:
    row = await export.latest_export(db, actor)
    status = export.current_status(row) if row is not None else None
    return {
        "export": row,
        "status": status,
        "size": size_of(row.size) if row is not None and row.size is not None else "",
        "polling": status in IN_PROGRESS,
        "may_request": status not in IN_PROGRESS,
    }


@router.get("/account/data")
async def data_export_page(
    request: Request, actor: WebPatient, db: Session, scope: Scope
) -> Response:
    """Your latest export and the button to ask for one."""
    values = await _status_values(db, actor)
    return render(
        request,
        "compliance/data_export.html",
        actor,
        days=scope.settings.export_days,
        **values,
    )


@router.get("/account/data/status")
async def data_export_status(request: Request, actor: WebPatient, db: Session) -> Response:
    """The status fragment, polled while an export is being prepared."""
    values = await _status_values(db, actor)
    return render(request, "compliance/_export_status.html", actor, **values)


@router.post("/account/data", dependencies=[Csrf])
async def request_data_export(
    request: Request, actor: WebPatient, db: Session, scope: Scope
) -> Response:
    """Ask for an export; a refusal (one in progress, the daily limit) is shown on the page."""
    try:
        await export.request_export(db, scope, actor, actor.id)
    except CareBridgeError as exc:
        status = await refused(db, exc)
        values = await _status_values(db, actor)
        return render(
            request,
            "compliance/data_export.html",
            actor,
            status_code=status,
            days=scope.settings.export_days,
            error=exc.detail,
            **values,
        )
    return redirect("/account/data")


@router.get("/account/data/{export_id}/download")
async def download_data_export(
    export_id: uuid.UUID, actor: WebPatient, db: Session, scope: Scope
) -> Response:
    """Save your export's ZIP (recorded, like the API's download)."""
    found = await export.download(db, scope, actor, export_id)
    return file_response(found.content, "application/zip", found.filename)
