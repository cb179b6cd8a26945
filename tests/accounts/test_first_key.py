"""A new server's first tokens: concurrent first sign-ins, on two processes (two apps with their
own key stores and pools) over a database with no signing key yet, make one key, and every token
issued then is accepted by both at once. A key made by another process verifies at once too."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from carebridge.accounts.models import Role, SigningKey, User, UserStatus
from carebridge.accounts.service import start_session
from carebridge.accounts.tokens import KeyStore, rotate_signing_key
from carebridge.app import create_app
from carebridge.platform.context import SYSTEM
from carebridge.platform.db import Database
from tests.factories import PASSWORD, PASSWORD_HASH
from tests.factories.settings import make_settings

PER_PROCESS = 4
ME = "/api/v1/me"


@pytest.fixture
async def processes(fresh_url: str, tmp_path: Path) -> AsyncIterator[list[httpx.AsyncClient]]:
    """Two apps, as two server processes of one clinic, on a database with no signing key."""
    settings = make_settings(tmp_path, database_url=fresh_url)
    async with AsyncExitStack() as stack:
        clients = []
        for _ in range(2):
            app = create_app(settings)
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app)
            clients.append(
                await stack.enter_async_context(
                    httpx.AsyncClient(transport=transport, base_url="http://t")
                )
            )
        yield clients


async def add_patients(database: Database, count: int) -> list[User]:
    async with database.transaction() as db:
        users = [
            User(
                email=f"first-{n}-{uuid.uuid4().hex[:6]}@clinic.example",
                name=f"First {n}",
                role=Role.patient,
                status=UserStatus.active,
                password_hash=PASSWORD_HASH,
            )
            for n in range(count)
        ]
        db.add_all(users)
    return users


async def test_concurrent_first_sign_ins_make_one_key_that_every_process_accepts(
    processes: list[httpx.AsyncClient], fresh: Database
) -> None:
    users = await add_patients(fresh, 2 * PER_PROCESS)

    async def sign_in(client: httpx.AsyncClient, user: User) -> str:
        answer = await client.post(
            "/api/v1/auth/login", json={"email": user.email, "password": PASSWORD}
        )
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])

    tokens = await asyncio.gather(
        *(sign_in(processes[n % 2], user) for n, user in enumerate(users))
    )

    async with fresh.transaction() as db:
        assert await db.scalar(select(func.count()).select_from(SigningKey)) == 1
    for token in tokens:
        for client in processes:
            answer = await client.get(ME, headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 200, answer.text


async def test_a_key_rotated_in_by_another_process_verifies_at_once(
    processes: list[httpx.AsyncClient], fresh: Database, tmp_path: Path
) -> None:
    first, second = processes
    [user] = await add_patients(fresh, 1)
    answer = await first.post(
        "/api/v1/auth/login", json={"email": user.email, "password": PASSWORD}
    )
    token = answer.json()["access_token"]
    # Both processes now know the first key (the second has just loaded it).
    assert (await second.get(ME, headers={"Authorization": f"Bearer {token}"})).status_code == 200

    # A third process (`carebridge keys rotate`, then a sign-in on a new server) signs with a
    # key the two have not loaded.
    other = KeyStore(make_settings(tmp_path))
    async with fresh.transaction() as db:
        await rotate_signing_key(db, other.keyring)
    async with fresh.transaction() as db:
        rotated = (await start_session(db, other, user, SYSTEM)).access_token

    for client in processes:
        answer = await client.get(ME, headers={"Authorization": f"Bearer {rotated}"})
        assert answer.status_code == 200, answer.text
