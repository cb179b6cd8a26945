"""The demo's consent documents: version 1 of each kind is published and every demo account has
accepted what applies to it, so no demo user is stopped by the consent page; a second run adds
nothing."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from carebridge.accounts.demo import DEMO_USERS
from carebridge.accounts.models import User
from carebridge.config import Settings
from carebridge.platform.db import Database
from carebridge.seed import seed_demo
from tests.factories.users import TokenFor


async def test_demo_users_have_accepted_version_one(
    client: httpx.AsyncClient, database: Database, settings: Settings, token_for: TokenFor
) -> None:
    first = await seed_demo(database, settings)
    assert first["compliance"] > 4
    assert (await seed_demo(database, settings))["compliance"] == 0
    current = await client.get("/api/v1/consent-documents/current")
    assert [(d["kind"], d["version"]) for d in current.json()] == [
        ("terms_of_service", 1),
        ("privacy_notice", 1),
        ("telehealth_consent", 1),
        ("research_sharing", 1),
    ]
    for email, _, role in DEMO_USERS:
        async with database.sessionmaker() as db:
            user = await db.scalar(select(User).where(User.email == email))
        assert user is not None
        mine = (await client.get("/api/v1/consents", headers=await token_for(user))).json()
        assert mine, email
        assert {item["state"] for item in mine} == {"accepted"}, (email, role)
