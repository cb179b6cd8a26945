"""The dispatcher's suggestions: which nurses to give a visit to, ranked by one SQL statement.

The candidates are the nurses of the roster (``visit_nurses`` of an active user whose role is
nurse) who perform the visit's service (it is among their skills). For each, PostgreSQL computes:

- **distance**: from the nurse's last position if their device reported one within
  :data:`FRESH_POSITION` (2 hours), else from their base, to the visit's point
  (``visits.geo.distance_sql``); unknown when they have neither;
- **within radius**: that distance is at most their radius;
- **available**: no other visit of theirs that is assigned, accepted, en_route, arrived or
  in_progress has a window overlapping this visit's;
- **load**: their other visits (any status but cancelled) starting on the visit's day (UTC);
- **on duty**: as the nurse (or a dispatcher) set it.

The ranking rule (:func:`score_sql`, its only statement) is a score out of 100::

    40 * available + 20 * within radius + 10 * on duty
      + 20 * closeness   (1 at the door, falling linearly to 0 at the edge of their radius;
                          0 beyond it or when the distance is unknown)
      + 10 / (1 + load)  (10 with no other visit that day, 5 with one, 3.3 with two ...)

so a free nurse always ranks above a busy one, then one who covers the address above one who
does not; among equals the nearer and less loaded come first. Ties go to the shorter distance,
then the name. The reasons in words restate the same facts; they do not rank.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import Role, User, UserStatus
from carebridge.platform.context import CallScope
from carebridge.platform.errors import Conflict
from carebridge.visits import service
from carebridge.visits.geo import distance_sql
from carebridge.visits.models import Visit, VisitNurse, VisitStatus
from carebridge.visits.schemas import PersonOut, Point
from carebridge.visits.suggestion_schemas import SuggestionOut, SuggestionsOut

FRESH_POSITION = timedelta(hours=2)
# A nurse with one of these visits in an overlapping window is not available.
BUSY = (
    VisitStatus.assigned,
    VisitStatus.accepted,
    VisitStatus.en_route,
    VisitStatus.arrived,
    VisitStatus.in_progress,
)
DEFAULT_LIMIT = 10
MAX_LIMIT = 50


def _flag(condition: ColumnElement[bool], weight: float) -> ColumnElement[float]:
    return case((condition, literal(weight, Float)), else_=literal(0.0, Float))


def score_sql(
    available: ColumnElement[bool],
    within_radius: ColumnElement[bool],
    on_duty: ColumnElement[bool],
    distance: ColumnElement[float],
    radius_m: ColumnElement[float],
    load: ColumnElement[int],
) -> ColumnElement[float]:
    """The ranking rule of the module's docstring, out of 100."""
    closeness = func.coalesce(func.greatest(0.0, 1.0 - distance / radius_m), 0.0)
    lightness = 10.0 / (1.0 + cast(load, Float))
    return (
        _flag(available, 40)
        + _flag(within_radius, 20)
        + _flag(on_duty, 10)
        + 20.0 * closeness
        + lightness
    )


def ranked(visit: Visit, home: Point, now: datetime, limit: int) -> Select[Any]:
    """One row per candidate nurse of ``visit`` (at ``home``), the best first."""
    fresh = VisitNurse.last_position_at >= now - FRESH_POSITION
    from_position = and_(VisitNurse.last_lat.is_not(None), fresh)
    lat = case((from_position, VisitNurse.last_lat), else_=VisitNurse.base_lat)
    lng = case((from_position, VisitNurse.last_lng), else_=VisitNurse.base_lng)
    measured_from = case(
        (from_position, literal("last_position")),
        (VisitNurse.base_lat.is_not(None), literal("base")),
    )
    distance = distance_sql(lat, lng, home.lat, home.lng)
    radius_m = VisitNurse.radius_km * 1000.0
    within = func.coalesce(distance <= radius_m, False)
    other = aliased(Visit, name="other")
    busy = exists().where(
        other.nurse_id == VisitNurse.nurse_id,
        other.id != visit.id,
        other.status.in_([s.value for s in BUSY]),
        other.window_start < visit.window_end,
        other.window_end > visit.window_start,
    )
    available = ~busy
    day = datetime.combine(visit.window_start.date(), time(), tzinfo=visit.window_start.tzinfo)
    that_day = aliased(Visit, name="that_day")
    load = (
        select(func.count())
        .where(
            that_day.nurse_id == VisitNurse.nurse_id,
            that_day.id != visit.id,
            that_day.status != VisitStatus.cancelled.value,
            that_day.window_start >= day,
            that_day.window_start < day + timedelta(days=1),
        )
        .scalar_subquery()
    )
    on_duty = VisitNurse.on_duty.expression
    score = score_sql(available, within, on_duty, distance, radius_m, load)
    return (
        select(
            User.id,
            User.name,
            distance.label("distance_m"),
            measured_from.label("measured_from"),
            VisitNurse.radius_km,
            within.label("within_radius"),
            available.label("available"),
            load.label("load_today"),
            VisitNurse.on_duty,
            score.label("score"),
            VisitNurse.last_position_at,
        )
        .join(VisitNurse, VisitNurse.nurse_id == User.id)
        .where(
            User.role == Role.nurse,
            User.status == UserStatus.active,
            literal(visit.service) == VisitNurse.skills.any_(),
        )
        .order_by(score.desc(), distance.asc().nulls_last(), User.name, User.id)
        .limit(limit)
    )


def _km(metres: float) -> str:
    return f"{metres / 1000:.1f} km"


def reasons(row: Any, now: datetime) -> list[str]:
    """The facts the score is made of, in words."""
    said = []
    if row.distance_m is None:
        said.append("Distance unknown: no base and no recent position")
    elif row.measured_from == "last_position":
        minutes = max(0, int((now - row.last_position_at).total_seconds() // 60))
        said.append(f"{_km(row.distance_m)} from their position {minutes} min ago")
    else:
        said.append(f"{_km(row.distance_m)} from their base")
    radius = f"{row.radius_km:g} km"
    said.append(f"Within their {radius} radius" if row.within_radius else f"Beyond their {radius}")
    said.append("Free in the visit's window" if row.available else "Busy with another visit then")
    others = row.load_today
    said.append(
        "No other visit that day"
        if others == 0
        else f"{others} other visit{'s' if others > 1 else ''} that day"
    )
    said.append("On duty" if row.on_duty else "Off duty")
    return said


def check_placed(visit: Visit) -> Point:
    """The visit's point; 409 ``visit_not_placed`` when it has none."""
    if visit.lat is None or visit.lng is None:
        raise Conflict(
            "This visit's address is not on the map yet: place it (assign takes a `point`) "
            "before nurses can be ranked by distance.",
            code="visit_not_placed",
        )
    return Point(lat=visit.lat, lng=visit.lng)


async def suggest(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    visit_id: uuid.UUID,
    *,
    limit: int = DEFAULT_LIMIT,
    now: datetime | None = None,
) -> SuggestionsOut:
    """The nurses to give ``visit_id`` to, the best first (a dispatcher's)."""
    moment = now or datetime.now(UTC)
    visit = await service.find_visit(db, scope, actor, visit_id)
    home = check_placed(visit)
    rows = (await db.execute(ranked(visit, home, moment, limit))).all()
    items = [
        SuggestionOut(
            nurse=PersonOut(id=row.id, name=row.name),
            distance_m=None if row.distance_m is None else round(row.distance_m, 1),
            measured_from=row.measured_from,
            radius_km=row.radius_km,
            within_radius=row.within_radius,
            available=row.available,
            load_today=row.load_today,
            on_duty=row.on_duty,
            score=round(row.score, 1),
            reasons=reasons(row, moment),
        )
        for row in rows
    ]
    return SuggestionsOut(visit_id=visit.id, point=home, items=items)
