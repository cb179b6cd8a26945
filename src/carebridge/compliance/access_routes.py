"""A person's access log: /api/v1/me/access-log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from carebridge.accounts.actors import AnyUser
from carebridge.compliance.access_log import my_access_log
from carebridge.compliance.schemas import AccessOut
from carebridge.platform.deps import Session
from carebridge.platform.errors import Invalid, Unauthenticated
from carebridge.platform.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, PageOut
from carebridge.platform.problems import problem_responses

router = APIRouter(tags=["me"])


@router.get(
    "/me/access-log",
    response_model=PageOut[AccessOut],
    responses=problem_responses(Unauthenticated, Invalid),
)
async def access_log(
    actor: AnyUser,
    db: Session,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
) -> Any:
    """Who else read or changed data about you (your health record, your home visits, your
    messages, your appointments, your prescriptions, your profile), newest first: who (name
    and role), what (the action and the kind of object), when, and for a clinician's read of
    your record on what basis (`care`, `grant`, `emergency`). Refused attempts are listed with
    the outcome `denied`. Your own actions are not listed."""
    page = await my_access_log(db, actor, cursor=cursor, limit=limit)
    return {"items": page.items, "next_cursor": page.next_cursor}
