"""A nurse's day: the visits given to them that are not over yet (assigned, accepted, on the
way, at the door, under way), in visit order (the window's start), up to two weeks ahead; and
those they completed since the start of their day, whose report may still need writing. The
nurse's pages (``web/nurse_visits.py``) show it as a list and a map."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.accounts.service import names_of, time_zone_of
from carebridge.compliance.service import record
from carebridge.platform.context import CallScope
from carebridge.visits import policy, service
from carebridge.visits.models import Visit, VisitStatus
from carebridge.visits.schemas import VisitOut

OPEN = (
    VisitStatus.assigned,
    VisitStatus.accepted,
    VisitStatus.en_route,
    VisitStatus.arrived,
    VisitStatus.in_progress,
)
AHEAD = timedelta(days=14)
MOST = 100  # a day's round is far fewer; the list stops here


def start_of_day(now: datetime, zone: str) -> datetime:
    """Midnight of ``now``'s day in ``zone``, as a UTC instant."""
    local = now.astimezone(ZoneInfo(zone))
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


async def nurse_day(
    db: AsyncSession, scope: CallScope, actor: Actor, *, now: datetime | None = None
) -> list[VisitOut]:
    """The nurse's open visits up to two weeks ahead and today's completed ones, by window
    start. Reading their addresses and notes is audited, as the list of the API is."""
    now = now or datetime.now(UTC)
    since = start_of_day(now, await time_zone_of(db, actor.id))
    statement = (
        policy.visible_visits(actor, scope.settings)
        .where(
            Visit.nurse_id == actor.id,
            or_(
                and_(
                    Visit.status.in_([s.value for s in OPEN]),
                    Visit.window_start <= now + AHEAD,
                ),
                and_(Visit.status == VisitStatus.completed.value, Visit.completed_at >= since),
            ),
        )
        .order_by(Visit.window_start, Visit.id)
        .limit(MOST)
    )
    rows: list[Visit] = list(await db.scalars(statement))
    if rows:
        await record(
            db,
            action="visit.list",
            actor_id=actor.id,
            actor_role=actor.role,
            resource_type=service.RESOURCE,
            context=scope.origin,
            visits=[str(row.id) for row in rows],
        )
    people = {row.patient_id for row in rows} | {row.ordered_by_id for row in rows}
    names = await names_of(db, {person for person in people if person} | {actor.id})
    await scope.unlock(db, *{row.patient_id for row in rows})
    return [
        service.visit_out(
            scope, actor, row, names, await service.facts_of(db, scope, actor, row), now
        )
        for row in rows
    ]
