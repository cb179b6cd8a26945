"""Home visits on the real-time gateway: the topic ``visit.<id>`` and the client frame
``position``.

- ``visit.<id>``: the visit's patient, its nurse and the dispatchers (``policy.may_see_position``,
  which only ever admits people who may see the visit: a doctor who ordered it is refused). The
  snapshot is ``{"visit_id", "status", "seq", "position", "home"}`` (the last position, as
  ``PositionOut``, or null; the home's map point or null). Events: ``status`` (each move,
  ``visits/service.apply_move``) and ``position`` (``PositionOut`` with ``visit_id``).
- ``{"type": "position", "visit_id", "lat", "lng", "accuracy_m"}``: from the visit's nurse while
  en route or arrived (``visits/tracking.py``). Acknowledged with the ``PositionOut`` fields and
  ``"stored": true`` (the page learns ``near`` to offer "Arrived"), or ``{"stored": false,
  "reason": "too_soon"}`` within ``CAREBRIDGE_VISIT_POSITION_SECONDS`` of the last one. Refused
  with ``visit_not_found``, ``not_the_nurse`` or ``not_tracked``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import Role, UserStatus
from carebridge.platform.context import CallScope, RequestContext
from carebridge.platform.realtime.topics import (
    GatewayContext,
    Identity,
    context_of,
    parse_action,
    register_action,
    register_topic,
)
from carebridge.visits import policy, service, tracking
from carebridge.visits.models import Visit
from carebridge.visits.tracking_schemas import PositionIn

_ORIGIN = RequestContext(user_agent="realtime")


def visit_of(topic: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(topic.removeprefix(policy.TOPIC))
    except ValueError:
        return None


def _actor(identity: Identity) -> Actor:
    """The socket's holder, as of its ticket (the gateway ends the sockets of an ended
    session)."""
    return Actor(
        id=identity.user_id,
        role=Role(identity.role),
        status=UserStatus(identity.status),
        session_id=identity.session_id,
    )


async def _watched(db: AsyncSession, identity: Identity, topic: str) -> Visit | None:
    visit_id = visit_of(topic)
    if visit_id is None:
        return None
    # may_see_position admits only the patient, the assigned nurse and the dispatchers, all of
    # whom policy.visible_visits lets see the visit: loading by id loses nothing.
    visit: Visit | None = await db.scalar(select(Visit).where(Visit.id == visit_id))
    if visit is None or not policy.may_see_position(_actor(identity), visit):
        return None
    return visit


async def watchers_only(db: AsyncSession, identity: Identity, topic: str) -> bool:
    return await _watched(db, identity, topic) is not None


async def snapshot(db: AsyncSession, identity: Identity, topic: str) -> dict[str, Any]:
    visit = await _watched(db, identity, topic)
    assert visit is not None  # authorized first
    position = service.position_out(visit, context_of(db).settings)
    home = None if visit.lat is None or visit.lng is None else {"lat": visit.lat, "lng": visit.lng}
    return {
        "visit_id": str(visit.id),
        "status": visit.status,
        "seq": visit.seq,
        "position": None if position is None else position.model_dump(mode="json"),
        "home": home,
    }


register_topic(policy.TOPIC, watchers_only, snapshot)


async def position_frame(
    context: GatewayContext, identity: Identity, frame: dict[str, Any]
) -> dict[str, Any]:
    """``{"type": "position", "visit_id", "lat", "lng", "accuracy_m"}``: see the module."""
    body = parse_action(PositionIn, frame)
    scope = CallScope(context.settings, context.keyring, _ORIGIN)
    stored = await tracking.record_position(
        context.database, scope, _actor(identity), body, datetime.now(UTC)
    )
    if stored.position is None:
        return {"stored": False, "reason": "too_soon", "visit_id": str(stored.visit_id)}
    return {
        "stored": True,
        "visit_id": str(stored.visit_id),
        **stored.position.model_dump(mode="json"),
    }


register_action("position", position_frame)
