"""The call page of a video appointment (``/appointments/{id}/call``) and the JSON endpoints its
script (``static/js/call.js``) posts with the browser session and the ``X-CSRF-Token`` header:
join, admit, invite, leave, end and the quality reports. They call the API's own use cases
(``video.service``) and answer the API's JSON (docs/calls.md); a refusal is problem+json when
the script asks for JSON. Members only: anyone else gets the 404 page.

The page lets the camera, the microphone and screen sharing be used (``media_page``) and shows
the appointment's conversation beside the video (``messaging/_thread.html``, kept live by
``static/js/conversation.js``)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from starlette.responses import Response

from carebridge.accounts import service as accounts
from carebridge.messaging import service as messaging
from carebridge.platform.deps import Scope, Session
from carebridge.platform.errors import Conflict
from carebridge.platform.middleware import media_page
from carebridge.scheduling import lifecycle
from carebridge.video import policy, rooms, service
from carebridge.video.schemas import AdmitIn, CallOut, InviteIn, JoinOut, LeaveIn, StatsIn
from carebridge.web.callers import WebDoctor, WebUser
from carebridge.web.messaging import conversation_values
from carebridge.web.pages import render
from carebridge.web.scheduling.common import when
from carebridge.web.session import CsrfHeader

router = APIRouter(include_in_schema=False)


@router.get("/appointments/{appointment_id}/call")
async def call_page(
    request: Request, appointment_id: uuid.UUID, actor: WebUser, db: Session, scope: Scope
) -> Response:
    """The call: the video tiles, the controls, the waiting room (its doctor admits from it),
    and the appointment's conversation beside them. Joining is the script's (a button, or at
    once after a reload of a page that had joined)."""
    appointment = await rooms.get_appointment(db, actor.id, appointment_id)  # 404 otherwise
    now = datetime.now(UTC)
    room = policy.room(scope.settings, appointment)
    refused = None  # why no one may join now, in words (js/call.js says it too, on a refusal)
    try:
        policy.check_open(scope.settings, appointment, now)
    except Conflict as refusal:
        refused = refusal
    zone = await accounts.time_zone_of(db, actor.id)
    conversation = await messaging.conversation_of_appointment(db, actor, appointment_id)
    thread = (
        await conversation_values(request, actor, db, scope, conversation.id)
        if conversation is not None
        else {}
    )
    host = policy.hosts(actor.id, appointment)
    moves = lifecycle.allowed_moves(scope.settings, actor, appointment, now)
    response = render(
        request,
        "calls/call.html",
        actor,
        appointment=appointment,
        room=room,
        refused=refused,
        host=host,
        invitable=await service.invitable(db, actor, appointment_id) if host else [],
        moves=moves,
        **{"zone": zone, "when": when, **thread},
    )
    return media_page(response)


@router.post(
    "/appointments/{appointment_id}/call/join", response_model=JoinOut, dependencies=[CsrfHeader]
)
async def join(appointment_id: uuid.UUID, actor: WebUser, db: Session, scope: Scope) -> JoinOut:
    """``POST /api/v1/appointments/{id}/call/join`` for the page."""
    return await service.join(db, scope, actor, appointment_id)


@router.post(
    "/appointments/{appointment_id}/call/admit", response_model=CallOut, dependencies=[CsrfHeader]
)
async def admit(
    appointment_id: uuid.UUID, body: AdmitIn, actor: WebDoctor, db: Session, scope: Scope
) -> CallOut:
    """``POST /api/v1/appointments/{id}/call/admit`` for the page."""
    return await service.admit(db, scope, actor, appointment_id, body)


@router.post(
    "/appointments/{appointment_id}/call/invite", response_model=CallOut, dependencies=[CsrfHeader]
)
async def invite(
    appointment_id: uuid.UUID, body: InviteIn, actor: WebDoctor, db: Session, scope: Scope
) -> CallOut:
    """``POST /api/v1/appointments/{id}/call/invite`` for the page."""
    return await service.invite(db, scope, actor, appointment_id, body)


@router.post(
    "/appointments/{appointment_id}/call/leave", response_model=CallOut, dependencies=[CsrfHeader]
)
async def leave(
    appointment_id: uuid.UUID, body: LeaveIn, actor: WebUser, db: Session, scope: Scope
) -> CallOut:
    """``POST /api/v1/appointments/{id}/call/leave`` for the page."""
    return await service.leave(db, scope, actor, appointment_id, body)


@router.post(
    "/appointments/{appointment_id}/call/end", response_model=CallOut, dependencies=[CsrfHeader]
)
async def end(appointment_id: uuid.UUID, actor: WebDoctor, db: Session, scope: Scope) -> CallOut:
    """``POST /api/v1/appointments/{id}/call/end`` for the page."""
    return await service.end(db, scope, actor, appointment_id)


@router.post("/appointments/{appointment_id}/call/stats", dependencies=[CsrfHeader])
async def stats(
    appointment_id: uuid.UUID, body: StatsIn, actor: WebUser, db: Session, scope: Scope
) -> Response:
    """``POST /api/v1/appointments/{id}/call/stats`` for the page (every 5 s: also the
    heartbeat)."""
    await service.report(db, scope, actor, appointment_id, body)
    return Response(status_code=204)
