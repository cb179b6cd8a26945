"""The demo's health record: after seeding, the demo patient's record has two months of readings
with a falling blood pressure, an allergy and a condition; a second run writes nothing."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from carebridge.accounts.models import User
from carebridge.config import Settings
from carebridge.platform.db import Database
from carebridge.records import demo
from carebridge.seed import seed_demo
from tests.factories.users import TokenFor


async def test_the_demo_patient_has_a_record_to_read(
    client: httpx.AsyncClient, database: Database, settings: Settings, token_for: TokenFor
) -> None:
    first = await seed_demo(database, settings)
    assert first["records"] > 250
    again = await seed_demo(database, settings)
    assert again["records"] == 0  # idempotent
    async with database.sessionmaker() as db:
        patient = await db.scalar(select(User).where(User.email == demo.PATIENT))
    assert patient is not None
    headers = await token_for(patient)
    latest = (await client.get("/api/v1/records/observations/latest", headers=headers)).json()
    assert {item["kind"] for item in latest["items"]} >= {"blood_pressure", "body_weight"}
    assert latest["bmi"] is not None
    series = await client.get(
        "/api/v1/records/observations/series",
        params={"kind": "blood_pressure", "bucket": "week"},
        headers=headers,
    )
    points = series.json()["points"]
    assert len(points) >= 4
    assert points[-1]["mean"] < points[0]["mean"]  # the treatment works
