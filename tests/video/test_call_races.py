"""Races on one call, through an app with its own connection pool on a database of the test's
own (the requests really overlap in PostgreSQL): the call's row lock makes joins, admissions and
leaves happen one after the other, so no one is in twice, no one is admitted twice, and the
mesh never holds more than its limit."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import func, select

from carebridge.accounts.models import Role, User, UserStatus
from carebridge.accounts.service import start_session
from carebridge.accounts.tokens import KeyStore
from carebridge.app import create_app
from carebridge.config import Settings
from carebridge.directory.models import DoctorProfile
from carebridge.platform.context import SYSTEM
from carebridge.platform.db import Database
from carebridge.video.models import CallParticipant
from tests.factories.messaging import ROUND_THE_CLOCK, book_soon
from tests.factories.users import doctor_and_patients

Headers = dict[str, str]


@dataclass
class Crowd:
    client: httpx.AsyncClient
    database: Database
    url: str
    doctor: Headers
    patient: Headers
    nurses: list[Headers]


@pytest.fixture
async def crowd(settings: Settings, fresh_url: str) -> AsyncIterator[Crowd]:
    app = create_app(settings.model_copy(update={"database_url": fresh_url}))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        database: Database = app.state.runtime.database
        keys = KeyStore(settings)
        async with database.transaction() as db:
            doctor, (patient,) = doctor_and_patients("call-race", 1)
            nurses = [
                User(
                    email=f"call-race-nurse-{n}-{patient.email}",
                    name=f"Nurse {n}",
                    role=Role.nurse,
                    status=UserStatus.active,
                    password_hash="x",
                )
                for n in range(4)
            ]
            db.add_all([doctor, patient, *nurses])
            await db.flush()
            db.add(DoctorProfile(user_id=doctor.id, verified_at=datetime.now(UTC)))
            tokens = [
                (await start_session(db, keys, user, SYSTEM)).access_token
                for user in (doctor, patient, *nurses)
            ]
        headers = [{"Authorization": f"Bearer {token}"} for token in tokens]
        answer = await client.put(
            "/api/v1/doctors/me/schedule", json=ROUND_THE_CLOCK, headers=headers[0]
        )
        assert answer.status_code == 200, answer.text
        booked = await book_soon(client, doctor.id, headers[1], "video")
        url = f"/api/v1/appointments/{booked['id']}/call"
        for nurse in nurses:
            invited = await client.post(
                f"{url}/invite", json={"user_id": str(nurse.id)}, headers=headers[0]
            )
            assert invited.status_code == 200, invited.text
        yield Crowd(client, database, url, headers[0], headers[1], headers[2:])


async def _live(database: Database) -> Counter[str]:
    async with database.transaction() as db:
        rows = await db.execute(
            select(CallParticipant.state, func.count()).group_by(CallParticipant.state)
        )
        return Counter({str(row[0]): int(row[1]) for row in rows})


async def test_one_person_joining_twenty_times_at_once_is_in_once(crowd: Crowd) -> None:
    answers = await asyncio.gather(
        *(crowd.client.post(f"{crowd.url}/join", headers=crowd.patient) for _ in range(20))
    )
    assert Counter(a.status_code for a in answers) == {200: 20}
    states = await _live(crowd.database)
    assert states == {"waiting": 1, "left": 19}


async def test_admitting_one_peer_ten_times_at_once_admits_it_once(crowd: Crowd) -> None:
    waiting = await crowd.client.post(f"{crowd.url}/join", headers=crowd.patient)
    peer = {"participant_id": waiting.json()["participant"]["id"]}
    answers = await asyncio.gather(
        *(
            crowd.client.post(f"{crowd.url}/admit", json=peer, headers=crowd.doctor)
            for _ in range(10)
        )
    )
    assert Counter(a.status_code for a in answers) == {200: 1, 409: 9}
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"not_waiting"}


async def test_six_people_joining_at_once_leave_the_mesh_at_four(crowd: Crowd) -> None:
    everyone = [crowd.doctor, crowd.patient, *crowd.nurses]
    answers = await asyncio.gather(
        *(crowd.client.post(f"{crowd.url}/join", headers=h) for h in everyone)
    )
    assert Counter(a.status_code for a in answers) == {200: 4, 409: 2}
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"call_full"}
    states = await _live(crowd.database)
    assert states["waiting"] + states["in_call"] == 4


async def test_admitting_and_leaving_at_once_leaves_the_peer_out(crowd: Crowd) -> None:
    for _ in range(5):
        waiting = await crowd.client.post(f"{crowd.url}/join", headers=crowd.nurses[0])
        peer = {"participant_id": waiting.json()["participant"]["id"]}
        admit, leave = await asyncio.gather(
            crowd.client.post(f"{crowd.url}/admit", json=peer, headers=crowd.doctor),
            crowd.client.post(f"{crowd.url}/leave", json=peer, headers=crowd.nurses[0]),
        )
        assert leave.status_code == 200, leave.text
        assert admit.status_code in (200, 409), admit.text
        seen = await crowd.client.get(crowd.url, headers=crowd.doctor)
        assert peer["participant_id"] not in {p["id"] for p in seen.json()["participants"]}
