"""Nurses claiming open visits where the clinic allows it (``CAREBRIDGE_VISIT_NURSES_CLAIM``): a
nurse who performs the service and whose radius covers the home sees the request and claims it
(``{"to": "accepted"}``); anyone else, or any nurse when the setting is off, finds nothing; two
nurses claiming at once: one has it, the other is refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from carebridge.accounts.models import Role
from carebridge.app import create_app
from carebridge.config import Settings
from carebridge.platform.db import Database
from tests.factories.apps import serving
from tests.factories.users import Person, tokens_for, user_maker
from tests.factories.visits import FAR_BASE, MakeNurse, MakePeople, on_roster, visit_body

Json = dict[str, Any]


def claiming(settings: Settings, **more: Any) -> Settings:
    return settings.model_copy(update={"visit_nurses_claim": True, **more})


async def _requested(client: httpx.AsyncClient, patient: Person) -> str:
    answer = await client.post("/api/v1/visits", json=visit_body(), headers=patient.headers)
    assert answer.status_code == 201, answer.text
    return f"/api/v1/visits/{answer.json()['id']}"


async def _claim(client: httpx.AsyncClient, url: str, nurse: Person) -> httpx.Response:
    return await client.post(f"{url}/transitions", json={"to": "accepted"}, headers=nurse.headers)


async def _listed(client: httpx.AsyncClient, nurse: Person) -> set[str]:
    answer = await client.get("/api/v1/visits", headers=nurse.headers)
    assert answer.status_code == 200, answer.text
    return {f"/api/v1/visits/{item['id']}" for item in answer.json()["items"]}


class TestClaimsAllowed:
    @pytest.fixture
    def app(self, settings: Settings, database: Database) -> FastAPI:
        return create_app(claiming(settings), database=database)

    async def test_a_nurse_within_radius_with_the_skill_sees_and_claims(
        self, client: httpx.AsyncClient, visit_people: MakePeople
    ) -> None:
        people = await visit_people()
        url = await _requested(client, people.patient)
        assert url in await _listed(client, people.nurse)
        seen = await client.get(url, headers=people.nurse.headers)
        assert seen.status_code == 200, seen.text
        assert seen.json()["allowed"] == ["accepted"]

        claimed = await _claim(client, url, people.nurse)
        assert claimed.status_code == 200, claimed.text
        body = claimed.json()
        assert body["status"] == "accepted"
        assert body["nurse"]["id"] == str(people.nurse.user.id)
        assert body["timeline"][-1]["name"] == "claimed"
        assert body["conversation_id"] is not None
        patient_view = (await client.get(url, headers=people.patient.headers)).json()
        assert patient_view["nurse"]["id"] == str(people.nurse.user.id)

    async def test_a_nurse_beyond_their_radius_or_without_the_skill_finds_nothing(
        self, client: httpx.AsyncClient, visit_people: MakePeople, roster_nurse: MakeNurse
    ) -> None:
        people = await visit_people()
        url = await _requested(client, people.patient)
        far = await roster_nurse(base=FAR_BASE)
        unskilled = await roster_nurse(skills=("injection",))
        narrow = await roster_nurse(radius_km=1)
        for nurse in (far, unskilled, narrow):
            assert url not in await _listed(client, nurse)
            assert (await client.get(url, headers=nurse.headers)).status_code == 404
            refused = await _claim(client, url, nurse)
            assert refused.status_code == 404, refused.text
        # The near nurse still may.
        assert (await _claim(client, url, people.nurse)).status_code == 200

    async def test_a_claimed_visit_is_no_longer_open_to_others(
        self, client: httpx.AsyncClient, visit_people: MakePeople, roster_nurse: MakeNurse
    ) -> None:
        people = await visit_people()
        url = await _requested(client, people.patient)
        other = await roster_nurse()
        assert (await _claim(client, url, people.nurse)).status_code == 200
        assert url not in await _listed(client, other)
        assert (await _claim(client, url, other)).status_code == 404


async def test_with_the_setting_off_nurses_do_not_see_open_requests(
    client: httpx.AsyncClient, visit_people: MakePeople
) -> None:
    people = await visit_people()
    url = await _requested(client, people.patient)
    assert url not in await _listed(client, people.nurse)
    assert (await client.get(url, headers=people.nurse.headers)).status_code == 404
    assert (await _claim(client, url, people.nurse)).status_code == 404


@pytest.fixture
async def racing(
    settings: Settings, fresh_url: str, tmp_path: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, Database, Settings]]:
    """An app with its own connection pool on a database of the test's own: two requests really
    overlap in PostgreSQL."""
    own = claiming(settings, database_url=fresh_url)
    app = create_app(own)
    async with serving(app) as client:
        yield client, app.state.runtime.database, own


async def test_two_nurses_claiming_at_once_one_has_it(
    racing: tuple[httpx.AsyncClient, Database, Settings],
) -> None:
    client, database, own = racing
    make_user, token_for = user_maker(database), tokens_for(database, own)
    patient = await make_user(Role.patient)
    nurses = [await make_user(Role.nurse) for _ in range(2)]
    for nurse in nurses:
        await on_roster(database, nurse)
    url = await _requested(client, Person(patient, await token_for(patient)))
    people = [Person(nurse, await token_for(nurse)) for nurse in nurses]
    for rounds in range(1, 6):  # several rounds: the race is not won the same way each time
        answers = await asyncio.gather(*(_claim(client, url, nurse) for nurse in people))
        codes = sorted(answer.status_code for answer in answers)
        assert codes[0] == 200
        assert codes[1] in (404, 409), [a.text for a in answers]
        winner = people[[a.status_code for a in answers].index(200)]
        seen = (await client.get(url, headers=winner.headers)).json()
        assert seen["nurse"]["id"] == str(winner.user.id)
        # One claim per round in the history: requested, then (claimed, declined) per round.
        assert [t["name"] for t in seen["timeline"]].count("claimed") == rounds
        assert len(seen["timeline"]) == 2 * rounds
        # The winner declines: the visit is open again for the next round.
        declined = await client.post(
            f"{url}/transitions", json={"to": "requested"}, headers=winner.headers
        )
        assert declined.status_code == 200, declined.text
