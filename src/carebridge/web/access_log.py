"""The "Who saw my data" page: the signed-in person's access log (``compliance/access_log.py``),
the same source as ``GET /api/v1/me/access-log``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from carebridge.accounts.service import time_zone_of
from carebridge.compliance.access_log import my_access_log
from carebridge.platform.deps import Session
from carebridge.platform.pagination import MAX_PAGE_SIZE
from carebridge.web.pages import render
from carebridge.web.scheduling.common import when
from carebridge.web.session import WebUser

router = APIRouter(include_in_schema=False)


@router.get("/account/access-log")
async def access_log_page(
    request: Request,
    actor: WebUser,
    db: Session,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    """Who else read or changed data about you: your record, visits, messages, appointments."""
    page = await my_access_log(db, actor, cursor=cursor, limit=MAX_PAGE_SIZE)
    return render(
        request,
        "compliance/access_log.html",
        actor,
        entries=page.items,
        next_cursor=page.next_cursor,
        zone=await time_zone_of(db, actor.id),
        when=when,
    )
