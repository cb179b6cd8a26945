"""The de-identified research extract for administrators: /api/v1/admin/research/..."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from carebridge.accounts.actors import AdminActor
from carebridge.platform.deps import Scope, Session
from carebridge.platform.errors import Forbidden, Invalid, Unauthenticated
from carebridge.platform.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, PageOut
from carebridge.platform.problems import problem_responses
from carebridge.records import research
from carebridge.records.research import ResearchObservationOut

router = APIRouter(tags=["admin"])


@router.get(
    "/admin/research/observations",
    response_model=PageOut[ResearchObservationOut],
    responses=problem_responses(Unauthenticated, Forbidden, Invalid),
)
async def research_observations(
    actor: AdminActor,
    db: Session,
    scope: Scope,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
) -> Any:
    """Administrators: the de-identified research extract, newest measured first: observations
    of the patients whose research-sharing consent holds now (a withdrawal removes them from
    the next request on), each under a pseudonym (a keyed hash of the patient, stable while the
    keyring's current key is), with kind, value, unit and day only: no names, no notes, no time
    of day. Each page read is audited (`research.extract_read`)."""
    page = await research.research_observations(db, scope, actor, cursor=cursor, limit=limit)
    return {"items": page.items, "next_cursor": page.next_cursor}
