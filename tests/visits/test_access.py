"""Who finds a home visit: its patient, its nurse, the doctor who ordered it and the
dispatchers; another patient, another nurse and another doctor get 404 as if it did not exist,
and the lists show them nothing of it. A nurse with an open visit reads the patient's health
record (the ``care`` basis), before accepting and after sign-off they do not."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select, update

from carebridge.accounts.models import Role
from carebridge.compliance.models import AuditEvent
from carebridge.config import Settings
from carebridge.platform.db import Database
from carebridge.visits.models import Visit, VisitStatus
from tests.factories import MakeUser, Person, TokenFor
from tests.factories.visits import VISIT_CANARY, MakePeople, on_roster, visit_in


async def _stranger(make_user: MakeUser, token_for: TokenFor, role: Role) -> Person:
    user = await make_user(role)
    return Person(user, await token_for(user))


async def test_strangers_find_nothing(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    visit_people: MakePeople,
    make_user: MakeUser,
    token_for: TokenFor,
) -> None:
    people = await visit_people()
    visit_id = await visit_in(
        database,
        settings,
        people.patient.user,
        VisitStatus.en_route,
        nurse=people.nurse.user,
        ordered_by=people.doctor.user,
    )
    other_nurse = await _stranger(make_user, token_for, Role.nurse)
    await on_roster(database, other_nurse.user)
    strangers = [
        await _stranger(make_user, token_for, Role.patient),
        other_nurse,
        await _stranger(make_user, token_for, Role.doctor),
    ]
    url = f"/api/v1/visits/{visit_id}"
    for stranger in strangers:
        answer = await client.get(url, headers=stranger.headers)
        assert answer.status_code == 404, answer.text
        listed = await client.get("/api/v1/visits", headers=stranger.headers)
        assert listed.status_code == 200
        assert str(visit_id) not in listed.text
        assert VISIT_CANARY not in listed.text
    for entitled in (people.patient, people.nurse, people.doctor, people.admin):
        answer = await client.get(url, headers=entitled.headers)
        assert answer.status_code == 200, answer.text
        assert VISIT_CANARY in answer.json()["access_notes"]
        assert str(visit_id) in (await client.get("/api/v1/visits", headers=entitled.headers)).text
    # The live position is the patient's, the nurse's and the dispatchers': not the doctor's.
    async with database.transaction() as db:
        await db.execute(
            update(Visit)
            .where(Visit.id == visit_id)
            .values(last_lat=45.77, last_lng=4.84, last_position_at=func.now())
        )
    for person, sees in ((people.patient, True), (people.admin, True), (people.doctor, False)):
        shown = (await client.get(url, headers=person.headers)).json()["position"]
        assert (shown is not None) == sees
    async with database.transaction() as db:
        readers = set(
            await db.scalars(
                select(AuditEvent.actor_id).where(
                    AuditEvent.action == "visit.read", AuditEvent.resource_id == str(visit_id)
                )
            )
        )
    # Every read by someone other than the patient is on the trail.
    assert readers == {people.nurse.user.id, people.doctor.user.id, people.admin.user.id}


async def test_an_open_visit_opens_the_record_to_its_nurse(
    client: httpx.AsyncClient, database: Database, settings: Settings, visit_people: MakePeople
) -> None:
    people = await visit_people()
    record = f"/api/v1/patients/{people.patient.user.id}/records/observations"
    assigned = await visit_in(
        database, settings, people.patient.user, VisitStatus.assigned, nurse=people.nurse.user
    )
    assert (await client.get(record, headers=people.nurse.headers)).status_code == 404
    moved = await client.post(
        f"/api/v1/visits/{assigned}/transitions",
        json={"to": "accepted"},
        headers=people.nurse.headers,
    )
    assert moved.status_code == 200, moved.text
    opened = await client.get(record, headers=people.nurse.headers)
    assert opened.status_code == 200, opened.text
    async with database.transaction() as db:
        await db.execute(
            update(Visit).where(Visit.id == assigned).values(status=VisitStatus.cancelled.value)
        )
    assert (await client.get(record, headers=people.nurse.headers)).status_code == 404
