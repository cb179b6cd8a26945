"""Presence API: a doctor's status switch; patients following doctors."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from carebridge.accounts.actors import DoctorActor, PatientActor
from carebridge.platform.deps import RuntimeDep, Session
from carebridge.platform.errors import NotFound
from carebridge.platform.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, PageOut
from carebridge.platform.problems import problem_responses
from carebridge.presence import service
from carebridge.presence.schemas import FollowOut, PresenceOut, StatusIn

router = APIRouter(tags=["presence"])


@router.get("/doctors/me/status", response_model=PresenceOut)
async def my_status(actor: DoctorActor, db: Session) -> PresenceOut:
    """Your current status as patients see it."""
    return await service.get_status(db, actor.id)


@router.put("/doctors/me/status", response_model=PresenceOut)
async def set_my_status(
    body: StatusIn, actor: DoctorActor, db: Session, runtime: RuntimeDep
) -> PresenceOut:
    """Go `online` (patients see you and your followers are told), `busy` (in a consultation:
    shown, nobody told) or `offline`. If you are online with the web app open and its last tab
    closes, you go offline after a grace period (60 s by default) unless you come back."""
    return await service.set_status(db, runtime.settings, actor.id, body.status)


@router.post("/doctors/{doctor_id}/follow", status_code=204, responses=problem_responses(NotFound))
async def follow_doctor(doctor_id: uuid.UUID, actor: PatientActor, db: Session) -> Response:
    """Be told when this doctor comes online (at most once per doctor every 2 hours)."""
    await service.follow(db, actor, doctor_id)
    return Response(status_code=204)


@router.delete(
    "/doctors/{doctor_id}/follow", status_code=204, responses=problem_responses(NotFound)
)
async def unfollow_doctor(doctor_id: uuid.UUID, actor: PatientActor, db: Session) -> Response:
    """Stop being told when this doctor comes online."""
    await service.unfollow(db, actor, doctor_id)
    return Response(status_code=204)


@router.get("/me/following", response_model=PageOut[FollowOut])
async def my_following(
    actor: PatientActor,
    db: Session,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
) -> PageOut[FollowOut]:
    """The doctors you follow, with their status, newest first."""
    page = await service.following(db, actor, cursor, limit)
    return PageOut(items=page.items, next_cursor=page.next_cursor)
