"""Reviews written at the same moment, through an app with its own connection pool (so the
requests really overlap in the database): the rating counts every one of them, and one
appointment still gets one review. What the test commits is deleted afterwards."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from carebridge.accounts.models import User
from carebridge.accounts.service import start_session
from carebridge.accounts.tokens import KeyStore
from carebridge.app import create_app
from carebridge.config import Settings
from carebridge.directory.models import DoctorProfile
from carebridge.platform.context import SYSTEM
from carebridge.platform.db import Database
from carebridge.reviews.models import Review
from carebridge.scheduling.models import Appointment
from tests.factories import doctor_and_patients

PATIENTS = 20


@dataclass
class Crowd:
    client: httpx.AsyncClient
    database: Database
    doctor: User
    headers: list[dict[str, str]]
    appointments: list[uuid.UUID]


@pytest.fixture
async def crowd(settings: Settings, engine: AsyncEngine) -> AsyncIterator[Crowd]:  # migrated
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        database: Database = app.state.runtime.database
        keys = KeyStore(settings)
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=5)
        async with database.transaction() as db:
            doctor, patients = doctor_and_patients("review", PATIENTS)
            db.add_all([doctor, *patients])
            await db.flush()
            db.add(DoctorProfile(user_id=doctor.id, verified_at=datetime.now(UTC)))
            appointments = [
                Appointment(
                    id=uuid.uuid4(),
                    doctor_id=doctor.id,
                    patient_id=p.id,
                    type="video",
                    status="completed",
                    starts_at=start + timedelta(hours=n),
                    ends_at=start + timedelta(hours=n, minutes=30),
                    blocked_until=start + timedelta(hours=n, minutes=30),
                    time_zone="UTC",
                    fee=0,
                )
                for n, p in enumerate(patients)
            ]
            db.add_all(appointments)
            tokens = [(await start_session(db, keys, p, SYSTEM)).access_token for p in patients]
        try:
            yield Crowd(
                client,
                database,
                doctor,
                [{"Authorization": f"Bearer {t}"} for t in tokens],
                [a.id for a in appointments],
            )
        finally:
            ids = [doctor.id, *(p.id for p in patients)]
            async with database.transaction() as db:
                await db.execute(delete(Review).where(Review.doctor_id == doctor.id))
                await db.execute(delete(Appointment).where(Appointment.doctor_id == doctor.id))
                await db.execute(delete(User).where(User.id.in_(ids)))


async def _rating(crowd: Crowd) -> tuple[Decimal | None, int]:
    async with crowd.database.transaction() as db:
        row = (
            await db.execute(
                select(DoctorProfile.rating_average, DoctorProfile.rating_count).where(
                    DoctorProfile.user_id == crowd.doctor.id
                )
            )
        ).one()
    return row.rating_average, row.rating_count


async def test_concurrent_reviews_all_count_and_one_appointment_gets_one(crowd: Crowd) -> None:
    ratings = [1 + n % 5 for n in range(PATIENTS)]

    async def review(n: int) -> httpx.Response:
        return await crowd.client.post(
            f"/api/v1/appointments/{crowd.appointments[n]}/review",
            json={"rating": ratings[n]},
            headers=crowd.headers[n],
        )

    answers = await asyncio.gather(*(review(n) for n in range(PATIENTS)))
    assert Counter(a.status_code for a in answers) == {201: PATIENTS}
    expected = (Decimal(sum(ratings)) / PATIENTS).quantize(Decimal("0.01"))
    assert await _rating(crowd) == (expected, PATIENTS)

    async with crowd.database.transaction() as db:
        await db.execute(delete(Review).where(Review.appointment_id == crowd.appointments[0]))
    twice = await asyncio.gather(*(review(0) for _ in range(8)))
    statuses = Counter(a.status_code for a in twice)
    assert statuses == {201: 1, 409: 7}, statuses
    assert {a.json()["code"] for a in twice if a.status_code == 409} == {"already_reviewed"}
