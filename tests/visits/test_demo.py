"""The demo's home visits: after seeding, the demo nurse has an accepted visit to the demo
patient to set off for now, and the dispatch board has one to assign; a second run adds none."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from carebridge.accounts.models import User
from carebridge.config import Settings
from carebridge.platform.db import Database
from carebridge.seed import seed_demo
from carebridge.visits import demo
from tests.factories.users import TokenFor


async def test_the_demo_nurse_has_a_visit_to_go_to(
    client: httpx.AsyncClient, database: Database, settings: Settings, token_for: TokenFor
) -> None:
    first = await seed_demo(database, settings)
    assert first["visits"] == 4
    assert (await seed_demo(database, settings))["visits"] == 0
    async with database.sessionmaker() as db:
        nurse = await db.scalar(select(User).where(User.email == demo.NURSE))
        patient = await db.scalar(select(User).where(User.email == demo.PATIENT))
    assert nurse is not None
    assert patient is not None
    mine = (await client.get("/api/v1/visits", headers=await token_for(nurse))).json()["items"]
    assert [(item["status"], item["allowed"]) for item in mine] == [
        ("accepted", ["requested", "en_route"])
    ]
    theirs = (await client.get("/api/v1/visits", headers=await token_for(patient))).json()
    assert sorted(item["status"] for item in theirs["items"]) == ["accepted", "requested"]
