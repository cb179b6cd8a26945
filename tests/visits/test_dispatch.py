"""The dispatcher's suggestions (``GET /api/v1/visits/suggestions``): the nurses who perform the
visit's service, ranked by the rule of ``visits/suggestions.py`` (distance from a recent
position or the base, radius, availability in the window, the day's load, duty), with the
reasons in words; an unplaced visit is refused with what to do."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from carebridge.accounts.models import Role, User, UserStatus
from carebridge.config import Settings
from carebridge.platform.db import Database
from carebridge.visits.geo import distance_m
from carebridge.visits.models import VisitNurse, VisitStatus
from tests.factories.users import MakeUser
from tests.factories.visits import (
    FAR_BASE,
    HOME,
    NEAR_BASE,
    MakePeople,
    VisitPeople,
    on_roster,
    visit_in,
)

Json = dict[str, Any]
URL = "/api/v1/visits/suggestions"
# The visit: tomorrow 08:00 to 12:00 UTC (``visit_in`` makes 4-hour windows).
DAY = datetime.combine(datetime.now(UTC).date() + timedelta(days=1), time(8), tzinfo=UTC)


def expected_score(
    *, available: bool, within: bool, on_duty: bool, distance: float, radius_km: float, load: int
) -> float:
    """The ranking rule of the module's docstring, restated."""
    closeness = max(0.0, 1 - distance / (radius_km * 1000))
    return round(40 * available + 20 * within + 10 * on_duty + 20 * closeness + 10 / (1 + load), 1)


async def _suggest(client: httpx.AsyncClient, visit_id: uuid.UUID, headers: Json) -> Json:
    answer = await client.get(URL, params={"visit_id": str(visit_id), "limit": 50}, headers=headers)
    assert answer.status_code == 200, answer.text
    body: Json = answer.json()
    return body


Requested = Callable[..., Awaitable[tuple[VisitPeople, uuid.UUID]]]


@pytest.fixture
def requested(database: Database, settings: Settings, visit_people: MakePeople) -> Requested:
    """The visit people and a visit of their patient's, requested (``visit_in``'s options)."""

    async def make(**options: Any) -> tuple[VisitPeople, uuid.UUID]:
        people = await visit_people()
        visit_id = await visit_in(
            database, settings, people.patient.user, VisitStatus.requested, **options
        )
        return people, visit_id

    return make


class TestRefused:
    async def test_callers_other_than_a_dispatcher(
        self, client: httpx.AsyncClient, requested: Requested
    ) -> None:
        people, visit_id = await requested()
        params = {"visit_id": str(visit_id)}
        assert (await client.get(URL, params=params)).status_code == 401
        for person in (people.patient, people.nurse, people.doctor):
            answer = await client.get(URL, params=params, headers=person.headers)
            assert answer.status_code == 403, answer.text

    async def test_an_unknown_visit_and_a_bad_id(
        self, client: httpx.AsyncClient, visit_people: MakePeople
    ) -> None:
        people = await visit_people()
        unknown = await client.get(
            URL, params={"visit_id": str(uuid.uuid4())}, headers=people.admin.headers
        )
        assert (unknown.status_code, unknown.json()["code"]) == (404, "visit_not_found")
        bad = await client.get(URL, params={"visit_id": "nope"}, headers=people.admin.headers)
        assert bad.status_code == 422
        missing = await client.get(URL, headers=people.admin.headers)
        assert missing.status_code == 422

    async def test_a_visit_without_a_point_until_it_is_placed(
        self, client: httpx.AsyncClient, requested: Requested
    ) -> None:
        people, visit_id = await requested(point=None)
        refused = await client.get(
            URL, params={"visit_id": str(visit_id)}, headers=people.admin.headers
        )
        assert refused.status_code == 409
        assert refused.json()["code"] == "visit_not_placed"
        assert "point" in refused.json()["detail"]
        # Placed by the assignment, it is ranked.
        placed = await client.post(
            f"/api/v1/visits/{visit_id}/assign",
            json={"nurse_id": str(people.nurse.user.id), "point": {"lat": HOME[0], "lng": HOME[1]}},
            headers=people.admin.headers,
        )
        assert placed.status_code == 200, placed.text
        found = await _suggest(client, visit_id, people.admin.headers)
        assert found["point"] == {"lat": HOME[0], "lng": HOME[1]}
        assert str(people.nurse.user.id) in {item["nurse"]["id"] for item in found["items"]}


async def _nurse(database: Database, make_user: MakeUser, name: str, **roster: Any) -> User:
    user = await make_user(Role.nurse)
    async with database.transaction() as db:
        await db.execute(update(User).where(User.id == user.id).values(name=name))
    await on_roster(database, user, **roster)
    return user


async def test_nurses_are_ranked_by_availability_radius_duty_distance_and_load(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    visit_people: MakePeople,
    make_user: MakeUser,
) -> None:
    people = await visit_people()
    patient = people.patient.user
    free = await _nurse(database, make_user, "Free Nurse")
    loaded = await _nurse(database, make_user, "Loaded Nurse")
    busy = await _nurse(database, make_user, "Busy Nurse")
    off = await _nurse(database, make_user, "Off Nurse", on_duty=False)
    far = await _nurse(database, make_user, "Far Nurse", base=FAR_BASE)
    moving = await _nurse(database, make_user, "Moving Nurse", base=FAR_BASE)
    stale = await _nurse(database, make_user, "Stale Nurse")
    nowhere = await _nurse(database, make_user, "Nowhere Nurse", base=None)
    await _nurse(database, make_user, "Unskilled Nurse", skills=("injection",))
    gone = await _nurse(database, make_user, "Gone Nurse")
    async with database.transaction() as db:
        await db.execute(update(User).where(User.id == gone.id).values(status=UserStatus.disabled))
        # A position 10 minutes old near the home (counts), one 3 hours old far away (does not).
        await db.execute(
            update(VisitNurse)
            .where(VisitNurse.nurse_id == moving.id)
            .values(
                last_lat=HOME[0] + 0.005,
                last_lng=HOME[1],
                last_position_at=datetime.now(UTC) - timedelta(minutes=10),
            )
        )
        await db.execute(
            update(VisitNurse)
            .where(VisitNurse.nurse_id == stale.id)
            .values(
                last_lat=FAR_BASE[0],
                last_lng=FAR_BASE[1],
                last_position_at=datetime.now(UTC) - timedelta(hours=3),
            )
        )

    visit_id = await visit_in(database, settings, patient, VisitStatus.requested, window_start=DAY)
    # The busy nurse has a visit overlapping the window; the loaded one two later that day (and
    # others that do not count: a cancelled one that day, one the next day); a completed visit
    # overlapping the window does not make anyone busy.
    others = [
        (busy, VisitStatus.accepted, timedelta(hours=2)),
        (loaded, VisitStatus.assigned, timedelta(hours=4)),
        (loaded, VisitStatus.assigned, timedelta(hours=9)),
        (loaded, VisitStatus.cancelled, timedelta()),
        (loaded, VisitStatus.assigned, timedelta(days=1)),
        (free, VisitStatus.completed, timedelta()),
    ]
    for nurse, status, after in others:
        await visit_in(database, settings, patient, status, nurse=nurse, window_start=DAY + after)

    found = await _suggest(client, visit_id, people.admin.headers)
    mine = {free.id, loaded.id, busy.id, off.id, far.id, moving.id, stale.id, nowhere.id}
    items = [item for item in found["items"] if uuid.UUID(item["nurse"]["id"]) in mine]
    by_name = {item["nurse"]["name"]: item for item in items}
    assert "Unskilled Nurse" not in by_name
    assert "Gone Nurse" not in by_name
    assert len(items) == len(mine)

    near = distance_m(*NEAR_BASE, *HOME)
    assert by_name["Free Nurse"]["distance_m"] == pytest.approx(near, abs=0.2)
    assert by_name["Free Nurse"]["measured_from"] == "base"
    assert by_name["Free Nurse"]["load_today"] == 1  # the completed one that day
    assert by_name["Moving Nurse"]["measured_from"] == "last_position"
    assert by_name["Moving Nurse"]["distance_m"] == pytest.approx(
        distance_m(HOME[0] + 0.005, HOME[1], *HOME), abs=0.2
    )
    assert by_name["Moving Nurse"]["within_radius"] is True
    assert by_name["Stale Nurse"]["measured_from"] == "base"
    assert by_name["Stale Nurse"]["within_radius"] is True
    assert by_name["Far Nurse"]["within_radius"] is False
    assert by_name["Far Nurse"]["distance_m"] > 15_000
    assert by_name["Nowhere Nurse"]["distance_m"] is None
    assert by_name["Nowhere Nurse"]["measured_from"] is None
    assert by_name["Nowhere Nurse"]["within_radius"] is False
    assert by_name["Busy Nurse"]["available"] is False
    assert "Busy with another visit then" in by_name["Busy Nurse"]["reasons"]
    assert by_name["Loaded Nurse"]["load_today"] == 2
    assert "2 other visits that day" in by_name["Loaded Nurse"]["reasons"]
    assert by_name["Off Nurse"]["on_duty"] is False
    assert "Off duty" in by_name["Off Nurse"]["reasons"]
    assert all(item["available"] for name, item in by_name.items() if name != "Busy Nurse")

    for item in items:
        assert item["score"] == pytest.approx(
            expected_score(
                available=item["available"],
                within=item["within_radius"],
                on_duty=item["on_duty"],
                distance=item["distance_m"] if item["distance_m"] is not None else 1e12,
                radius_km=item["radius_km"],
                load=item["load_today"],
            ),
            abs=0.11,
        )
    order = [item["nurse"]["name"] for item in items]
    assert order == [
        "Moving Nurse",  # 99.3: 560 m from their recent position
        "Stale Nurse",  # 97.2: 2 km from their base (the old position does not count)
        "Free Nurse",  # 92.2: as near, one other visit that day
        "Loaded Nurse",  # 90.6: two others
        "Off Nurse",  # 87.2: off duty
        "Far Nurse",  # 60: beyond their radius
        "Nowhere Nurse",  # 60 too, but no distance: after
        "Busy Nurse",  # 52.2: not free in the window
    ]
    assert [item["score"] for item in found["items"]] == sorted(
        (item["score"] for item in found["items"]), reverse=True
    )
