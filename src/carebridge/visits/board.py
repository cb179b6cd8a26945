"""What the dispatcher's board shows besides the visits: the nurses of the roster with their
base and last known position (the map), the clinic's area (where a map opens when it has no
point yet: the middle of the roster's bases), and, until the ranked suggestions
(``GET /api/v1/visits/suggestions``) are wired into the board, a plain list of the nurses who
perform a visit's service, nearest first.

Dispatchers (administrators) only: a nurse's base and position are not anyone else's business.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import Role, User, UserStatus
from carebridge.platform.errors import Forbidden
from carebridge.visits.geo import distance_m
from carebridge.visits.models import Visit, VisitNurse
from carebridge.visits.schemas import Point


@dataclass(frozen=True)
class RosterNurse:
    nurse_id: uuid.UUID
    name: str
    base: Point | None
    last: Point | None
    last_at: datetime | None
    skills: tuple[str, ...]
    radius_km: float
    on_duty: bool

    @property
    def where(self) -> Point | None:
        """Where the nurse is drawn: the last position reported, else the base."""
        return self.last or self.base


@dataclass(frozen=True)
class Candidate:
    """A nurse who performs the visit's service, with the distance from where they are."""

    nurse: RosterNurse
    distance_m: float | None

    @property
    def within_radius(self) -> bool:
        return self.distance_m is not None and self.distance_m <= self.nurse.radius_km * 1000


def _point(lat: float | None, lng: float | None) -> Point | None:
    return None if lat is None or lng is None else Point(lat=lat, lng=lng)


def _check_dispatcher(actor: Actor) -> None:
    if actor.role != Role.admin:
        raise Forbidden("Only dispatchers see the roster.", code="wrong_role")


async def roster_nurses(
    db: AsyncSession, actor: Actor, *, on_duty_only: bool = False
) -> list[RosterNurse]:
    """The approved nurses with dispatch details, by name."""
    _check_dispatcher(actor)
    statement = (
        select(VisitNurse, User.name)
        .join(User, User.id == VisitNurse.nurse_id)
        .where(User.role == Role.nurse, User.status == UserStatus.active)
        .order_by(User.name, User.id)
    )
    if on_duty_only:
        statement = statement.where(VisitNurse.on_duty.is_(True))
    rows = await db.execute(statement)
    return [
        RosterNurse(
            nurse_id=row.nurse_id,
            name=name,
            base=_point(row.base_lat, row.base_lng),
            last=_point(row.last_lat, row.last_lng),
            last_at=row.last_position_at,
            skills=tuple(row.skills),
            radius_km=row.radius_km,
            on_duty=row.on_duty,
        )
        for row, name in rows
    ]


async def service_area(db: AsyncSession) -> Point | None:
    """The middle of the roster's bases: where a map with nothing on it yet opens (no person's
    position: an average of the clinic's bases)."""
    row = (
        await db.execute(
            select(func.avg(VisitNurse.base_lat), func.avg(VisitNurse.base_lng)).where(
                VisitNurse.base_lat.is_not(None), VisitNurse.base_lng.is_not(None)
            )
        )
    ).one()
    return _point(row[0], row[1])


async def candidates(db: AsyncSession, actor: Actor, visit: Visit) -> list[Candidate]:
    """The roster's nurses who perform ``visit``'s service: on duty first, then nearest (a
    visit without a point: by name)."""
    nurses = [n for n in await roster_nurses(db, actor) if visit.service in n.skills]
    found = []
    for nurse in nurses:
        where = nurse.where
        distance = None
        if where is not None and visit.lat is not None and visit.lng is not None:
            distance = distance_m(where.lat, where.lng, visit.lat, visit.lng)
        found.append(Candidate(nurse, distance))
    far = float("inf")
    found.sort(key=lambda c: (not c.nurse.on_duty, far if c.distance_m is None else c.distance_m))
    return found
