"""The doctor's "Waiting for you" list (on their home and their appointment pages), as a
fragment the page's js/call-waiting.js asks for again whenever a ``call.waiting`` event says
the waiting room of one of their calls changed."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from starlette.responses import Response

from carebridge.platform.deps import Session
from carebridge.scheduling import schedules
from carebridge.video import views as calls
from carebridge.web.callers import WebDoctor
from carebridge.web.pages import render
from carebridge.web.scheduling.common import helpers

router = APIRouter(include_in_schema=False)


@router.get("/calls/waiting")
async def waiting_fragment(
    request: Request, actor: WebDoctor, db: Session, appointment_id: uuid.UUID | None = None
) -> Response:
    """Who waits in the rooms of your calls (or of one appointment's call) now: the list's
    items, for the page to swap in."""
    return render(
        request,
        "calls/waiting.html",
        actor,
        waiting=await calls.waiting_for(db, actor.id, appointment_id),
        zone=await schedules.reader_zone(db, actor),
        **helpers(),
    )
