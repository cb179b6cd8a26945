"""The audit trail's admin API: /api/v1/admin/audit-events (and .csv)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from carebridge.accounts.actors import AdminActor
from carebridge.compliance import trail, trail_csv
from carebridge.compliance.schemas import AuditEventOut, AuditSearch
from carebridge.platform.context import Context
from carebridge.platform.deps import RuntimeDep, Session
from carebridge.platform.errors import Forbidden, Invalid
from carebridge.platform.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, PageOut
from carebridge.platform.problems import problem_responses

router = APIRouter(prefix="/admin", tags=["admin"])
_CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}}, "description": "The matching events as CSV"}
}


@router.get(
    "/audit-events",
    response_model=PageOut[AuditEventOut],
    responses=problem_responses(Forbidden, Invalid),
)
async def search_audit_events(
    search: Annotated[AuditSearch, Query()],
    actor: AdminActor,
    db: Session,
    context: Context,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
) -> Any:
    """The audit trail, newest first: who did what to which object, when, from where, and how
        it ended. Filter by `actor` (an email address or a user id), `action` (an action or its
        beginning: `auth.` finds every sign-in event), `resource_type`, `resource_id`, and `from` /
        `to` (instants with an offset), and `subject` (the patient the events are about: an email
    address or a user id). Administrators only; each search is itself recorded
        (`audit.viewed`)."""
    page = await trail.search_trail(db, actor, search, cursor=cursor, limit=limit, context=context)
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get(
    "/audit-events.csv",
    response_class=StreamingResponse,
    responses={**_CSV, **problem_responses(Forbidden, Invalid)},
)
async def export_audit_events(
    search: Annotated[AuditSearch, Query()],
    actor: AdminActor,
    db: Session,
    runtime: RuntimeDep,
    context: Context,
) -> StreamingResponse:
    """The events the same filters match, newest first, as CSV (streamed; at most
    `CAREBRIDGE_AUDIT_EXPORT_MAX_ROWS` rows, a last line says when the export stopped there).
    Cells that a spreadsheet would read as a formula start with an apostrophe. Administrators
    only; each export is recorded (`audit.exported`, with the filters and the number of rows)."""
    return await trail_csv.csv_response(runtime, actor, search, db=db, context=context)
