"""200 patients fire at one slot at once, through an app with its own connection pool (so the
requests really overlap in the database): exactly one wins."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time

import httpx
import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from carebridge.accounts.models import User
from carebridge.accounts.service import start_session
from carebridge.accounts.tokens import KeyStore
from carebridge.app import create_app
from carebridge.config import Settings
from carebridge.directory.models import DoctorProfile
from carebridge.platform.context import SYSTEM
from carebridge.platform.db import Database
from carebridge.scheduling.models import Appointment
from tests.factories import doctor_and_patients
from tests.factories.scheduling import BERLIN, next_weekday, schedule_body

PATIENTS = 200


@pytest.fixture
async def crowd(
    settings: Settings,
    engine: AsyncEngine,  # migrated
) -> AsyncIterator[tuple[httpx.AsyncClient, Database, User, list[dict[str, str]]]]:
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        database: Database = app.state.runtime.database
        keys = KeyStore(settings)
        async with database.transaction() as db:
            doctor, patients = doctor_and_patients("race", PATIENTS)
            db.add_all([doctor, *patients])
            await db.flush()
            db.add(DoctorProfile(user_id=doctor.id, verified_at=datetime.now(UTC)))
            doctor_token = (await start_session(db, keys, doctor, SYSTEM)).access_token
            tokens = [(await start_session(db, keys, p, SYSTEM)).access_token for p in patients]
        set_up = await client.put(
            "/api/v1/doctors/me/schedule",
            json=schedule_body(),
            headers={"Authorization": f"Bearer {doctor_token}"},
        )
        assert set_up.status_code == 200, set_up.text
        try:
            yield client, database, doctor, [{"Authorization": f"Bearer {t}"} for t in tokens]
        finally:
            ids = [doctor.id, *(p.id for p in patients)]
            async with database.transaction() as db:
                await db.execute(delete(Appointment).where(Appointment.doctor_id == doctor.id))
                await db.execute(delete(User).where(User.id.in_(ids)))


async def test_200_concurrent_bookings_of_one_slot_make_one_appointment(crowd) -> None:
    client, database, doctor, patients = crowd
    starts_at = datetime.combine(next_weekday(2), time(11), tzinfo=BERLIN).isoformat()

    async def attempt(headers: dict[str, str]) -> httpx.Response:
        return await client.post(
            "/api/v1/appointments",
            json={"doctor_id": str(doctor.id), "starts_at": starts_at, "type": "video"},
            headers=headers,
        )

    answers = await asyncio.gather(*(attempt(h) for h in patients))
    statuses = Counter(a.status_code for a in answers)
    assert statuses == {201: 1, 409: PATIENTS - 1}, statuses
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"slot_taken"}
    async with database.transaction() as db:
        rows = await db.scalar(
            select(func.count()).select_from(Appointment).where(Appointment.doctor_id == doctor.id)
        )
    assert rows == 1
