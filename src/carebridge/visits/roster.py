"""A nurse's dispatch details (``visit_nurses``): their base, skills (service codes of the
catalog), radius and whether they are on duty. The nurse keeps their own; a dispatcher may set
anyone's. A nurse without details is on no roster: they are never suggested nor assigned."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import Role, User
from carebridge.platform.errors import Invalid, NotFound
from carebridge.visits import catalog
from carebridge.visits.models import VisitNurse
from carebridge.visits.schemas import NurseDetailsIn, NurseDetailsOut, Point


def details_out(row: VisitNurse) -> NurseDetailsOut:
    base = (
        None
        if row.base_lat is None or row.base_lng is None
        else Point(lat=row.base_lat, lng=row.base_lng)
    )
    return NurseDetailsOut(
        nurse_id=row.nurse_id,
        base=base,
        skills=list(row.skills),
        radius_km=row.radius_km,
        on_duty=row.on_duty,
    )


async def _nurse(db: AsyncSession, nurse_id: uuid.UUID) -> None:
    found = await db.scalar(select(User.id).where(User.id == nurse_id, User.role == Role.nurse))
    if found is None:
        raise NotFound("No such nurse.", code="nurse_not_found")


async def get_details(db: AsyncSession, actor: Actor, nurse_id: uuid.UUID) -> NurseDetailsOut:
    if actor.role != Role.admin and actor.id != nurse_id:
        raise NotFound("No such nurse.", code="nurse_not_found")
    await _nurse(db, nurse_id)
    row: VisitNurse | None = await db.get(VisitNurse, nurse_id)
    if row is None:
        return NurseDetailsOut(nurse_id=nurse_id, base=None, skills=[], radius_km=15, on_duty=False)
    return details_out(row)


async def set_details(
    db: AsyncSession, actor: Actor, nurse_id: uuid.UUID, body: NurseDetailsIn
) -> NurseDetailsOut:
    """Create or replace a nurse's details (the nurse, or a dispatcher)."""
    if actor.role != Role.admin and actor.id != nurse_id:
        raise NotFound("No such nurse.", code="nurse_not_found")
    await _nurse(db, nurse_id)
    unknown = sorted(set(body.skills) - set(catalog.CODES))
    if unknown:
        raise Invalid(
            f"Unknown services: {', '.join(unknown)} (see GET /api/v1/visit-services).",
            code="unknown_service",
        )
    values = {
        "base_lat": None if body.base is None else body.base.lat,
        "base_lng": None if body.base is None else body.base.lng,
        "skills": sorted(set(body.skills)),
        "radius_km": body.radius_km,
        "on_duty": body.on_duty,
    }
    row = await db.scalar(
        insert(VisitNurse)
        .values(nurse_id=nurse_id, **values)
        .on_conflict_do_update(index_elements=[VisitNurse.nurse_id], set_=values)
        .returning(VisitNurse)
    )
    assert row is not None
    await db.refresh(row)
    return details_out(row)
