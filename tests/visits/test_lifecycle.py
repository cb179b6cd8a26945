"""A home visit's life through the API: a patient's request, the dispatcher's assignment, the
nurse's moves to completion, with the timeline, the notifications and the 409 that names the
moves allowed now; the database's own refusal of an illegal move."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError

from carebridge.notifications.models import Notification
from carebridge.platform.db import Database
from carebridge.visits import states
from carebridge.visits.models import Visit
from tests.factories.visits import MakePeople, visit_body


async def test_a_visit_from_request_to_completion(
    client: httpx.AsyncClient, database: Database, visit_people: MakePeople
) -> None:
    people = await visit_people()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    body = visit_body(
        window_start=start.isoformat(), window_end=(start + timedelta(hours=2)).isoformat()
    )
    answer = await client.post("/api/v1/visits", json=body, headers=people.patient.headers)
    assert answer.status_code == 201, answer.text
    visit = answer.json()
    assert visit["status"] == "requested"
    assert visit["allowed"] == ["cancelled"]
    assert visit["access_notes"] == body["access_notes"]
    url = f"/api/v1/visits/{visit['id']}"

    # A nurse cannot accept what nobody assigned them: 404 (they cannot see it at all).
    refused = await client.post(
        f"{url}/transitions", json={"to": "accepted"}, headers=people.nurse.headers
    )
    assert refused.status_code == 404

    assigned = await client.post(
        f"{url}/assign", json={"nurse_id": str(people.nurse.user.id)}, headers=people.admin.headers
    )
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["status"] == "assigned"
    assert assigned.json()["nurse"]["id"] == str(people.nurse.user.id)

    # Setting off before accepting: 409 with what is allowed now.
    early = await client.post(
        f"{url}/transitions", json={"to": "en_route"}, headers=people.nurse.headers
    )
    assert early.status_code == 409
    assert early.json()["code"] == "illegal_transition"
    assert sorted(early.json()["allowed"]) == ["accepted", "requested"]

    near = {"lat": 45.7650, "lng": 4.8360}
    for step in ("accepted", "en_route", "arrived", "in_progress", "completed"):
        moved = await client.post(
            f"{url}/transitions",
            json={"to": step, "position": near, "accuracy_m": 8},
            headers=people.nurse.headers,
        )
        assert moved.status_code == 200, (step, moved.text)
        assert moved.json()["status"] == step

    final = (await client.get(url, headers=people.patient.headers)).json()
    assert [t["to_state"] for t in final["timeline"]] == [
        "requested",
        "assigned",
        "accepted",
        "en_route",
        "arrived",
        "in_progress",
        "completed",
    ]
    assert [t["seq"] for t in final["timeline"]] == list(range(1, 8))
    assert final["timeline"][3]["position"] == near
    assert final["timeline"][3]["actor"]["id"] == str(people.nurse.user.id)
    async with database.transaction() as db:
        kinds = set(
            await db.scalars(
                select(Notification.kind).where(Notification.recipient_id == people.patient.user.id)
            )
        )
    assert {"visit_assigned", "visit_accepted", "visit_on_the_way", "visit_arrived"} <= kinds
    async with database.transaction() as db:
        nurse_links = set(
            await db.scalars(
                select(Notification.link).where(Notification.recipient_id == people.nurse.user.id)
            )
        )
    assert nurse_links == {f"/nurse/visits/{visit['id']}"}  # their own page of the visit


async def test_the_database_refuses_an_illegal_move(
    database: Database, visit_people: MakePeople, settings: object
) -> None:
    from tests.factories.visits import visit_in

    people = await visit_people()
    visit_id = await visit_in(database, settings, people.patient.user, states.S.requested)  # type: ignore[arg-type]
    with pytest.raises(DBAPIError, match="cannot move from requested to completed"):
        async with database.transaction() as db:
            await db.execute(update(Visit).where(Visit.id == visit_id).values(status="completed"))


async def test_the_database_holds_the_moves_of_the_state_machine(database: Database) -> None:
    async with database.transaction() as db:
        rows = (await db.execute(text("SELECT from_state, to_state FROM visit_state_moves"))).all()
        count = await db.scalar(select(func.count()).select_from(Visit))
    assert {(a, b) for a, b in rows} == states.pairs()
    assert count is not None
