"""The demo's conversations: after seeding, the demo patient has care threads with the doctors
they have seen, readable through the API; a second run writes nothing."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from carebridge.accounts.models import User
from carebridge.config import Settings
from carebridge.directory import demo
from carebridge.platform.db import Database
from carebridge.seed import seed_demo
from tests.factories.users import TokenFor


async def test_the_demo_patient_has_threads_to_read(
    client: httpx.AsyncClient, database: Database, settings: Settings, token_for: TokenFor
) -> None:
    first = await seed_demo(database, settings)
    assert first["messaging"] > 0
    again = await seed_demo(database, settings)
    assert again["messaging"] == 0  # idempotent
    async with database.sessionmaker() as db:
        patient = await db.scalar(select(User).where(User.email == f"patient@{demo.DOMAIN}"))
    assert patient is not None
    headers = await token_for(patient)
    listed = await client.get("/api/v1/conversations", headers=headers)
    # Care threads, besides the conversation of the demo's video call (video/demo.py).
    threads = [t for t in listed.json()["items"] if t["kind"] == "care"]
    assert threads
    read = await client.get(f"/api/v1/conversations/{threads[0]['id']}/messages", headers=headers)
    texts = [message["text"] for message in read.json()["items"]]
    assert texts
    assert all(texts)
    assert texts[0].startswith("Hello, I have added the summary")
