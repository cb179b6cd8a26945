"""The visit's track: ``GET /api/v1/visits/{id}/track`` (the live position is on the gateway,
``visits/realtime.py``)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from carebridge.accounts.actors import AnyUser
from carebridge.platform.deps import Scope, Session
from carebridge.platform.errors import Forbidden, NotFound, Unauthenticated
from carebridge.platform.problems import problem_responses
from carebridge.visits import tracking
from carebridge.visits.tracking_schemas import TrackOut

router = APIRouter(tags=["visits"])


@router.get(
    "/visits/{visit_id}/track",
    response_model=TrackOut,
    responses=problem_responses(Unauthenticated, Forbidden, NotFound),
)
async def get_track(visit_id: uuid.UUID, actor: AnyUser, db: Session, scope: Scope) -> TrackOut:
    """The nurse's positions on the way to the home and there, oldest first, with the track's
    length and times: for the visit's patient, its nurse and the dispatchers (anyone else: 404).
    `CAREBRIDGE_VISIT_TRACK_DAYS` after the visit ended the points are deleted and `reduced` is
    true: only the distance and the times remain. A read by anyone but the patient is audited."""
    return await tracking.get_track(db, scope, actor, visit_id)
