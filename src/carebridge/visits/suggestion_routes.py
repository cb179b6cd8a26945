"""The dispatcher's suggestions: ``GET /api/v1/visits/suggestions`` (mounted before
``visits/routes.py``, whose ``/visits/{visit_id}`` would take the path otherwise)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from carebridge.accounts.actors import AdminActor
from carebridge.platform.deps import Scope, Session
from carebridge.platform.errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated
from carebridge.platform.problems import problem_responses
from carebridge.visits import suggestions
from carebridge.visits.suggestion_schemas import SuggestionsOut

router = APIRouter(tags=["visits"])


@router.get(
    "/visits/suggestions",
    response_model=SuggestionsOut,
    responses=problem_responses(Unauthenticated, Forbidden, NotFound, Invalid, Conflict),
)
async def suggest_nurses(
    visit_id: uuid.UUID,
    actor: AdminActor,
    db: Session,
    scope: Scope,
    limit: Annotated[int, Query(ge=1, le=suggestions.MAX_LIMIT)] = suggestions.DEFAULT_LIMIT,
) -> SuggestionsOut:
    """Dispatcher: the nurses of the roster who perform the visit's service, the best first,
    each with the distance to the home (from their position of the last 2 hours, else their
    base), whether that is within their radius, whether they are free in the visit's window,
    their other visits that day, whether they are on duty, a score out of 100 and the reasons in
    words. A visit whose address has no map point answers 409 `visit_not_placed`: place it
    (`POST /visits/{id}/assign` takes a `point`)."""
    return await suggestions.suggest(db, scope, actor, visit_id, limit=limit)
