"""The audit trail's admin API: /api/v1/admin/audit-events."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from carebridge.accounts.actors import AdminActor
from carebridge.compliance import trail
from carebridge.compliance.schemas import AuditEventOut, AuditSearch
from carebridge.platform.context import Context
from carebridge.platform.deps import Session
from carebridge.platform.errors import Forbidden, Invalid
from carebridge.platform.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, PageOut
from carebridge.platform.problems import problem_responses

router = APIRouter(prefix="/admin/audit-events", tags=["admin"])


@router.get(
    "", response_model=PageOut[AuditEventOut], responses=problem_responses(Forbidden, Invalid)
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
    `to` (instants with an offset). Administrators only; each search is itself recorded
    (`audit.viewed`)."""
    page = await trail.search_trail(db, actor, search, cursor=cursor, limit=limit, context=context)
    return {"items": page.items, "next_cursor": page.next_cursor}
