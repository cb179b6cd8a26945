"""Factories for home visit tests: request bodies, a nurse on the roster, and a visit written
straight into a given status (walked along legal moves, as the trigger insists)."""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from carebridge.accounts.models import Role, User
from carebridge.config import Settings
from carebridge.platform.context import CallScope
from carebridge.platform.db import Database
from carebridge.visits import states
from carebridge.visits.models import Visit, VisitNurse, VisitStatus, VisitTransition
from carebridge.visits.sealed import VISIT_ACCESS_NOTES, VISIT_ADDRESS, VISIT_REASON
from tests.factories.users import MakeUser, Person, TokenFor

Json = dict[str, Any]

# A home in Lyon and a nurse's base 2 km away; a second base 40 km away (outside 15 km).
HOME = (45.7640, 4.8357)
NEAR_BASE = (45.7760, 4.8560)
FAR_BASE = (46.1000, 4.9000)
# A private word the sealed fields carry: no answer to anyone not entitled may show it.
VISIT_CANARY = "zqvisit-keysafe-7731"


def visit_body(**overrides: Any) -> Json:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=3)
    values: Json = {
        "service": "wound_care",
        "address": "12 rue de la République, 69002 Lyon",
        "point": {"lat": HOME[0], "lng": HOME[1]},
        "window_start": start.isoformat(),
        "window_end": (start + timedelta(hours=2)).isoformat(),
        "access_notes": f"Door code 4821, third floor {VISIT_CANARY}",
        "reason": "Dressing of a leg ulcer",
    }
    values.update(overrides)
    return values


async def on_roster(
    database: Database,
    nurse: User,
    *,
    base: tuple[float, float] | None = NEAR_BASE,
    skills: tuple[str, ...] = ("wound_care", "injection", "vitals_check"),
    radius_km: float = 15,
    on_duty: bool = True,
) -> None:
    async with database.transaction() as db:
        db.add(
            VisitNurse(
                nurse_id=nurse.id,
                base_lat=None if base is None else base[0],
                base_lng=None if base is None else base[1],
                skills=list(skills),
                radius_km=radius_km,
                on_duty=on_duty,
            )
        )


def path_to(target: VisitStatus) -> list[VisitStatus]:
    """The shortest walk of legal moves from ``requested`` to ``target``."""
    paths: dict[VisitStatus, list[VisitStatus]] = {VisitStatus.requested: []}
    queue = deque([VisitStatus.requested])
    while queue:
        here = queue.popleft()
        for move in states.moves_from(here):
            if move.target not in paths:
                paths[move.target] = [*paths[here], move.target]
                queue.append(move.target)
    return paths[target]


async def visit_in(
    database: Database,
    settings: Settings,
    patient: User,
    status: VisitStatus,
    *,
    nurse: User | None = None,
    ordered_by: User | None = None,
    service: str = "wound_care",
    point: tuple[float, float] | None = HOME,
    window_start: datetime | None = None,
    arrived_minutes_ago: float = 60,
) -> uuid.UUID:
    """A visit of ``patient`` in ``status``: inserted as requested, then moved along legal moves
    (one transition row each), with ``nurse`` from ``assigned`` on."""
    now = datetime.now(UTC)
    start = window_start or now - timedelta(minutes=30)
    scope = CallScope.system(settings)
    keyring = scope.keyring
    visit = Visit(
        id=uuid.uuid4(),
        patient_id=patient.id,
        service=service,
        requested_by_id=(ordered_by or patient).id,
        ordered_by_id=None if ordered_by is None else ordered_by.id,
        lat=None if point is None else point[0],
        lng=None if point is None else point[1],
        window_start=start,
        window_end=start + timedelta(hours=4),
        seq=1,
    )
    async with database.transaction() as db:
        await scope.unlock(db, patient.id)
        visit.address_sealed = keyring.seal(VISIT_ADDRESS, visit, "3 place Bellecour, Lyon")
        visit.access_notes_sealed = keyring.seal(
            VISIT_ACCESS_NOTES, visit, f"Ring twice {VISIT_CANARY}"
        )
        visit.reason_sealed = keyring.seal(VISIT_REASON, visit, "Wound check")
        db.add(visit)
        await db.flush()
        db.add(
            VisitTransition(
                visit_id=visit.id,
                seq=1,
                to_state="requested",
                actor_id=patient.id,
                actor_role="patient",
            )
        )
        source = VisitStatus.requested
        current = None
        for seq, step in enumerate(path_to(status), start=2):
            if step in (VisitStatus.assigned, VisitStatus.accepted) and nurse is not None:
                current = nurse.id  # assigned (or claimed)
            elif step == VisitStatus.requested:
                current = None  # declined
            values: Json = {"status": step.value, "seq": seq, "nurse_id": current}
            if step == VisitStatus.arrived:
                values["arrived_at"] = now - timedelta(minutes=arrived_minutes_ago)
            if step == VisitStatus.completed:
                values["completed_at"] = now
            await db.execute(update(Visit).where(Visit.id == visit.id).values(**values))
            db.add(
                VisitTransition(
                    visit_id=visit.id,
                    seq=seq,
                    from_state=source.value,
                    to_state=step.value,
                    actor_role="admin",
                    nurse_id=values["nurse_id"],
                )
            )
            await db.flush()
            source = step
    return visit.id


@dataclass
class VisitPeople:
    patient: Person
    nurse: Person
    admin: Person
    doctor: Person


MakePeople = Callable[[], Awaitable[VisitPeople]]


@pytest.fixture
def visit_people(database: Database, make_user: MakeUser, token_for: TokenFor) -> MakePeople:
    """A patient, a nurse on the roster near their home, a dispatcher and a doctor."""

    async def make() -> VisitPeople:
        people = []
        for role in (Role.patient, Role.nurse, Role.admin, Role.doctor):
            user = await make_user(role)
            people.append(Person(user, await token_for(user)))
        await on_roster(database, people[1].user)
        return VisitPeople(*people)

    return make


MakeNurse = Callable[..., Awaitable[Person]]


@pytest.fixture
def roster_nurse(database: Database, make_user: MakeUser, token_for: TokenFor) -> MakeNurse:
    """Another nurse on the roster (``on_roster``'s options: base, skills, radius), signed in."""

    async def make(**roster: Any) -> Person:
        user = await make_user(Role.nurse)
        await on_roster(database, user, **roster)
        return Person(user, await token_for(user))

    return make
