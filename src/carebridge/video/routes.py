"""Calls API: join a video appointment's call, the doctor admits, invites and ends, members
leave and report quality; the WebSocket carries the signals (docs/calls.md)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from carebridge.accounts.actors import AnyUser, DoctorActor
from carebridge.platform.deps import RuntimeDep, Scope, Session
from carebridge.platform.errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated
from carebridge.platform.problems import problem_responses
from carebridge.video import service, views
from carebridge.video.schemas import (
    AdmitIn,
    CallOut,
    IceOut,
    InviteIn,
    JoinOut,
    LeaveIn,
    StatsIn,
)

router = APIRouter(tags=["calls"])
_MEMBER = problem_responses(Unauthenticated, NotFound, Conflict)
_HOST = problem_responses(Unauthenticated, Forbidden, NotFound, Conflict, Invalid)


@router.post("/appointments/{appointment_id}/call/join", response_model=JoinOut, responses=_MEMBER)
async def join_call(
    appointment_id: uuid.UUID, actor: AnyUser, db: Session, scope: Scope
) -> JoinOut:
    """Join the call of a video appointment you belong to (its patient, its doctor, or a
    clinician the doctor invited). Answers your peer id, the ICE servers (TURN credentials
    that lapse when the room closes) and the two topics to subscribe to. The doctor is in at
    once (and shown `busy`); others wait (`state: waiting`) until the doctor admits them, and
    the doctor is told. Joining again (a reload) replaces your earlier peer and keeps you in.
    Codes: `call_not_open` (409, with `opens_at`), `call_closed` (409), `call_ended` (409, the
    doctor ended it), `call_full` (409), `not_a_video_appointment` (409), `not_confirmed`
    (409, unpaid)."""
    return await service.join(db, scope, actor, appointment_id)


@router.post("/appointments/{appointment_id}/call/admit", response_model=CallOut, responses=_HOST)
async def admit_to_call(
    appointment_id: uuid.UUID, body: AdmitIn, actor: DoctorActor, db: Session, scope: Scope
) -> CallOut:
    """The appointment's doctor lets a waiting member in. Codes: `not_host` (403),
    `not_waiting` (409), and the room's codes as at join."""
    return await service.admit(db, scope, actor, appointment_id, body)


@router.post("/appointments/{appointment_id}/call/invite", response_model=CallOut, responses=_HOST)
async def invite_to_call(
    appointment_id: uuid.UUID, body: InviteIn, actor: DoctorActor, db: Session, scope: Scope
) -> CallOut:
    """The appointment's doctor invites a nurse or another doctor: they may join the call (and
    wait to be admitted) and read the appointment's conversation, and they are told. Codes:
    `not_host` (403), `not_a_clinician` (422), `already_member` (409)."""
    return await service.invite(db, scope, actor, appointment_id, body)


@router.post("/appointments/{appointment_id}/call/leave", response_model=CallOut, responses=_MEMBER)
async def leave_call(
    appointment_id: uuid.UUID, body: LeaveIn, actor: AnyUser, db: Session, scope: Scope
) -> CallOut:
    """Hang up. Code: `not_in_call` (409)."""
    return await service.leave(db, scope, actor, appointment_id, body)


@router.post("/appointments/{appointment_id}/call/end", response_model=CallOut, responses=_HOST)
async def end_call(
    appointment_id: uuid.UUID, actor: DoctorActor, db: Session, scope: Scope
) -> CallOut:
    """The appointment's doctor ends the call for everyone; the others cannot rejoin until the
    doctor joins again. Codes: `not_host` (403), `call_not_running` (409)."""
    return await service.end(db, scope, actor, appointment_id)


@router.post("/appointments/{appointment_id}/call/stats", status_code=204, responses=_MEMBER)
async def report_call_stats(
    appointment_id: uuid.UUID, body: StatsIn, actor: AnyUser, db: Session, scope: Scope
) -> Response:
    """Post what `RTCPeerConnection.getStats()` measured (round-trip time, packet loss, frames
    decoded, whether media is relayed) every few seconds while waiting or in the call: it also
    tells CareBridge you are still there (a member silent for
    `CAREBRIDGE_CALL_SILENT_SECONDS` is taken out). Code: `not_in_call` (409)."""
    await service.report(db, scope, actor, appointment_id, body)
    return Response(status_code=204)


@router.get(
    "/appointments/{appointment_id}/call",
    response_model=CallOut,
    responses=problem_responses(Unauthenticated, NotFound),
)
async def read_call(
    appointment_id: uuid.UUID, actor: AnyUser, db: Session, scope: Scope
) -> CallOut:
    """The call: when its room is open, who waits or is in it, your own peer; for the
    appointment's doctor also its record (who joined and left when, for how long, relayed or
    not, the quality each client reported). Members only (404 otherwise)."""
    return await views.read_call(db, scope, actor, appointment_id)


@router.post("/calls/check", response_model=IceOut, responses=problem_responses(Unauthenticated))
async def check_call_servers(actor: AnyUser, runtime: RuntimeDep) -> IceOut:
    """The ICE servers for the pre-call check (can this device reach a TURN relay?), with
    TURN credentials valid for 5 minutes and tied to no call."""
    return service.check_ice(runtime.settings, actor)
