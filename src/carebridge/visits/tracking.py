"""The nurse's live location and the visit's track: a position sent from the nurse's page (over
the gateway, ``visits/realtime.py``), the track read back (``GET /visits/{id}/track``) and its
reduction to a distance and times once the visit is long over (``visits/tasks.py``).

- A position is stored only from the visit's assigned nurse while it is en route or arrived
  (``policy.sends_position``), at most one per ``CAREBRIDGE_VISIT_POSITION_SECONDS`` per visit.
  The interval is held by the one ``UPDATE`` that stores it (``last_position_at`` compared in its
  ``WHERE``): two API processes receiving positions for the same visit at once cannot both
  store, the second waits for the first's row lock and then finds it too soon.
- Who may see the position and the track is ``policy.may_see_position``: the patient, the nurse,
  the dispatchers; anyone else, a doctor included, is answered 404 as if the visit did not exist.
- The track's length is one SQL statement (:func:`track_summary`, the great-circle legs between
  consecutive points), used by the read and by the reduction, so both give the same figure.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import Role
from carebridge.compliance.service import record
from carebridge.platform.context import CallScope
from carebridge.platform.db import Database
from carebridge.platform.errors import Conflict, Forbidden, NotFound
from carebridge.platform.events import publish
from carebridge.visits import policy, service, states
from carebridge.visits.geo import distance_sql
from carebridge.visits.models import Visit, VisitPosition, VisitStatus
from carebridge.visits.queries import STORE_POSITION, NewPosition
from carebridge.visits.schemas import PositionOut
from carebridge.visits.tracking_schemas import PositionIn, TrackOut, TrackPoint

# A visit over (no position comes any more): its track is reduced after the retention.
ENDED = frozenset({VisitStatus.completed, VisitStatus.signed_off, *states.FINAL})


def _not_found() -> NotFound:
    return NotFound("No such home visit.", code="visit_not_found")


# -- a position -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    """A position stored (``position``), or refused as too soon after the last (None)."""

    visit_id: uuid.UUID
    position: PositionOut | None


async def record_position(
    database: Database, scope: CallScope, actor: Actor, body: PositionIn, now: datetime
) -> Stored:
    """Store the nurse's position (``queries.STORE_POSITION``) and publish it on the visit's
    topic after the commit; a position sooner than the interval after the last one is not
    stored (``position`` None). A refusal is explained in a session (the rare path)."""
    settings = scope.settings
    since = now - timedelta(seconds=settings.visit_position_seconds)
    record = NewPosition(body.visit_id, actor.id, body.lat, body.lng, body.accuracy_m, now, since)
    async with database.driver_tx() as transaction:
        row = None
        if actor.role == Role.nurse:
            row = await transaction.connection.fetchrow(
                STORE_POSITION.sql, *STORE_POSITION.args(record)
            )
        if row is not None:
            position = _position_out(row["lat"], row["lng"], body, now, settings)
            data = {"visit_id": str(body.visit_id), **position.model_dump(mode="json")}
            topic = policy.topic_of(body.visit_id)
            transaction.after_commit(partial(publish, topic, "position", data))
            return Stored(body.visit_id, position)
    async with database.transaction() as db:
        await _explain_refusal(db, actor, body.visit_id)
    return Stored(body.visit_id, None)


def _position_out(
    home_lat: float | None, home_lng: float | None, body: PositionIn, now: datetime, settings: Any
) -> PositionOut:
    """``service.position_out``'s answer for the position just stored."""
    visit = Visit(
        lat=home_lat,
        lng=home_lng,
        last_lat=body.lat,
        last_lng=body.lng,
        last_accuracy_m=body.accuracy_m,
        last_position_at=now,
    )
    position = service.position_out(visit, settings)
    assert position is not None  # a position was given
    return position


async def _explain_refusal(db: AsyncSession, actor: Actor, visit_id: uuid.UUID) -> None:
    """Why no row was updated: raises, unless it was only too soon after the last position."""
    visit: Visit | None = await db.scalar(select(Visit).where(Visit.id == visit_id))
    if visit is None or not policy.may_see_position(actor, visit):
        raise _not_found()
    if actor.role == Role.nurse and await db.scalar(
        select(Visit.id).where(Visit.id == visit_id, policy.sends_position(actor.id))
    ):
        return  # the assigned nurse on the way: too soon
    if visit.nurse_id != actor.id:
        raise Forbidden("Only the visit's nurse shares their position.", code="not_the_nurse")
    raise Conflict(
        "The position is shared only while you are on the way or at the home.",
        code="not_tracked",
        current=visit.status,
    )


# -- the track ------------------------------------------------------------------------------------


def track_summary(visit_ids: list[uuid.UUID]) -> Select[Any]:
    """Per visit with points: ``visit_id``, ``distance_m`` (the sum of the great-circle legs
    between consecutive points), ``started_at``, ``ended_at``."""
    order = (VisitPosition.at, VisitPosition.id)
    previous_lat = func.lag(VisitPosition.lat).over(
        partition_by=VisitPosition.visit_id, order_by=order
    )
    previous_lng = func.lag(VisitPosition.lng).over(
        partition_by=VisitPosition.visit_id, order_by=order
    )
    legs = (
        select(
            VisitPosition.visit_id,
            VisitPosition.at,
            previous_lat.label("previous_lat"),
            distance_sql(previous_lat, previous_lng, VisitPosition.lat, VisitPosition.lng).label(
                "leg"
            ),
        )
        .where(VisitPosition.visit_id.in_(visit_ids))
        .subquery()
    )
    return select(
        legs.c.visit_id,
        # A first point has no leg (PostgreSQL's least() would take the NULL for 1: half the
        # Earth).
        func.coalesce(func.sum(legs.c.leg).filter(legs.c.previous_lat.is_not(None)), 0.0).label(
            "distance_m"
        ),
        func.min(legs.c.at).label("started_at"),
        func.max(legs.c.at).label("ended_at"),
    ).group_by(legs.c.visit_id)


async def get_track(
    db: AsyncSession, scope: CallScope, actor: Actor, visit_id: uuid.UUID
) -> TrackOut:
    """The visit's track for its patient, its nurse and the dispatchers (404 for anyone else);
    a read by anyone but the patient is audited."""
    visit = await service.find_visit(db, scope, actor, visit_id)
    if not policy.may_see_position(actor, visit):
        raise _not_found()
    if actor.id != visit.patient_id:
        await record(
            db,
            action="visit.track.read",
            actor_id=actor.id,
            actor_role=actor.role,
            resource_type=service.RESOURCE,
            resource_id=visit.id,
            subject_id=visit.patient_id,
            context=scope.origin,
            patient_id=str(visit.patient_id),
        )
    if visit.track_reduced_at is not None:
        return TrackOut(
            visit_id=visit.id,
            reduced=True,
            points=[],
            distance_m=visit.track_distance_m,
            started_at=visit.track_started_at,
            ended_at=visit.track_ended_at,
        )
    rows = await db.execute(
        select(VisitPosition.lat, VisitPosition.lng, VisitPosition.accuracy_m, VisitPosition.at)
        .where(VisitPosition.visit_id == visit.id)
        .order_by(VisitPosition.at, VisitPosition.id)
    )
    points = [TrackPoint(lat=r.lat, lng=r.lng, accuracy_m=r.accuracy_m, at=r.at) for r in rows]
    summary = (await db.execute(track_summary([visit.id]))).one_or_none()
    return TrackOut(
        visit_id=visit.id,
        reduced=False,
        points=points,
        distance_m=None if summary is None else round(summary.distance_m, 1),
        started_at=None if summary is None else summary.started_at,
        ended_at=None if summary is None else summary.ended_at,
    )


# -- the reduction --------------------------------------------------------------------------------


def _track_past_period(ended_before: datetime) -> ColumnElement[bool]:
    """A visit that ended before ``ended_before`` whose track is not reduced yet."""
    return and_(
        Visit.status.in_([s.value for s in ENDED]),
        Visit.track_reduced_at.is_(None),
        func.coalesce(Visit.completed_at, Visit.status_changed_at) < ended_before,
    )


async def tracks_to_reduce(db: AsyncSession, ended_before: datetime) -> int:
    """How many tracks :func:`reduce_batch` would reduce, all batches together."""
    return int(
        await db.scalar(select(func.count(Visit.id)).where(_track_past_period(ended_before))) or 0
    )


async def reduce_batch(db: AsyncSession, ended_before: datetime, now: datetime, limit: int) -> int:
    """Reduce up to ``limit`` tracks of visits ended before ``ended_before``: keep the
    distance and times, delete the points, forget the last position. Rows another worker holds
    are skipped (``SKIP LOCKED``); a reduced visit is not taken again. Returns how many."""
    ids = list(
        await db.scalars(
            select(Visit.id)
            .where(_track_past_period(ended_before))
            .order_by(Visit.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if not ids:
        return 0
    summaries = {row.visit_id: row for row in await db.execute(track_summary(ids))}
    for visit_id in ids:
        summary = summaries.get(visit_id)
        await db.execute(
            update(Visit)
            .where(Visit.id == visit_id)
            .values(
                track_distance_m=None if summary is None else round(summary.distance_m, 1),
                track_started_at=None if summary is None else summary.started_at,
                track_ended_at=None if summary is None else summary.ended_at,
                track_reduced_at=now,
                last_lat=None,
                last_lng=None,
                last_accuracy_m=None,
                last_position_at=None,
            )
            .execution_options(synchronize_session=False)
        )
    await db.execute(delete(VisitPosition).where(VisitPosition.visit_id.in_(ids)))
    return len(ids)
