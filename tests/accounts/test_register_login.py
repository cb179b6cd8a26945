from __future__ import annotations

import httpx
from sqlalchemy import func, select

from carebridge.accounts.models import User
from carebridge.app import create_app
from carebridge.config import Settings
from carebridge.platform.db import Database
from tests.factories import PASSWORD, MakeUser
from tests.factories.apps import serving

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"


async def count_users(database: Database) -> int:
    async with database.sessionmaker() as db:
        return int(await db.scalar(select(func.count()).select_from(User)) or 0)


async def test_patient_signs_up_and_signs_in(client: httpx.AsyncClient) -> None:
    response = await client.post(
        REGISTER,
        json={
            "email": "Maria.Lopez@Example.org",
            "password": PASSWORD,
            "name": "Maria Lopez",
            "time_zone": "Europe/Madrid",
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["email"] == "maria.lopez@example.org"
    assert (body["role"], body["status"]) == ("patient", "active")
    assert body["email_verified_at"] is None
    assert body["time_zone"] == "Europe/Madrid"
    assert "password" not in response.text

    tokens = await client.post(
        LOGIN, json={"email": "MARIA.lopez@example.org", "password": PASSWORD}
    )
    assert tokens.status_code == 200
    pair = tokens.json()
    assert pair["token_type"] == "bearer"
    assert pair["expires_in"] == 900
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.status_code == 200
    assert me.json()["id"] == body["id"]


async def test_clinicians_sign_up_pending_approval(client: httpx.AsyncClient) -> None:
    response = await client.post(
        REGISTER,
        json={
            "email": "dr.okafor@example.org",
            "password": PASSWORD,
            "name": "Dr Okafor",
            "role": "doctor",
        },
    )
    assert response.status_code == 201
    assert (response.json()["role"], response.json()["status"]) == ("doctor", "pending")


async def test_client_input_never_makes_an_admin_or_sets_status_or_id(
    client: httpx.AsyncClient, database: Database
) -> None:
    before = await count_users(database)
    base = {"email": "eve@example.org", "password": PASSWORD, "name": "Eve"}
    for extra in (
        {"role": "admin"},
        {"status": "active", "role": "doctor"},
        {"id": "6f1c1f1e-0000-4000-8000-000000000000"},
        {"email_verified_at": "2026-01-01T00:00:00Z"},
    ):
        response = await client.post(REGISTER, json={**base, **extra})
        assert response.status_code == 422, (extra, response.text)
        assert response.json()["code"] == "validation_error"
    assert await count_users(database) == before


async def test_weak_and_duplicate_registrations_are_refused_with_reasons(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    weak = await client.post(
        REGISTER, json={"email": "w@example.org", "password": "password123", "name": "W"}
    )
    assert weak.status_code == 422
    assert weak.json()["code"] == "weak_password"
    assert "common" in weak.json()["detail"].lower()
    short = await client.post(
        REGISTER, json={"email": "s@example.org", "password": "x7#", "name": "S"}
    )
    assert short.json()["code"] == "weak_password"
    assert "8 characters" in short.json()["detail"]
    long_ok = await client.post(
        REGISTER, json={"email": "l@example.org", "password": "q" * 64 + "Zx9!", "name": "L"}
    )
    assert long_ok.status_code == 201

    existing = await make_user(email="taken@example.org")
    duplicate = await client.post(
        REGISTER, json={"email": "TAKEN@example.org", "password": PASSWORD, "name": "Again"}
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["code"] == "email_taken"
    assert existing.email == "taken@example.org"


async def test_wrong_password_and_unknown_email_look_the_same(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user()
    wrong = await client.post(LOGIN, json={"email": user.email, "password": "not-the-password-1"})
    unknown = await client.post(LOGIN, json={"email": "nobody@example.org", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["code"] == unknown.json()["code"] == "invalid_credentials"
    assert wrong.json()["detail"] == unknown.json()["detail"]


async def test_many_wrong_passwords_lock_the_account_for_a_while_only(
    client: httpx.AsyncClient, make_user: MakeUser, database: Database, app: object
) -> None:
    user = await make_user()
    statuses = []
    for _ in range(200):
        response = await client.post(
            LOGIN, json={"email": user.email, "password": "guess-guess-123"}
        )
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert int(response.headers["retry-after"]) >= 1
    assert set(statuses) <= {401, 429}
    assert statuses.count(401) <= 10
    locked = await client.post(LOGIN, json={"email": user.email, "password": PASSWORD})
    assert locked.status_code == 429  # even the right password waits for the lock to end

    # Time passes: the lock and the rate-limit window end by themselves.
    async with database.transaction() as db:
        row = await db.get(User, user.id)
        assert row is not None
        assert row.locked_until is not None
        row.locked_until = None
    runtime = app.state.runtime  # type: ignore[attr-defined]
    await runtime.ratelimiter.clear("10/minute", "login-account", user.email)
    await runtime.ratelimiter.clear("30/minute", "login-ip", "127.0.0.1")
    after = await client.post(LOGIN, json={"email": user.email, "password": PASSWORD})
    assert after.status_code == 200, after.text


async def test_old_password_hashes_are_upgraded_at_sign_in(
    settings: Settings, make_user: MakeUser, database: Database
) -> None:
    from argon2 import PasswordHasher

    user = await make_user()
    weaker = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1).hash(PASSWORD)
    async with database.transaction() as db:
        row = await db.get(User, user.id)
        assert row is not None
        row.password_hash = weaker
    # The production cost (the tests' servers hash at the minimal one: make_settings).
    standard = settings.model_copy(update={"password_hash_cost": "standard"})
    async with serving(create_app(standard, database=database)) as client:
        response = await client.post(LOGIN, json={"email": user.email, "password": PASSWORD})
    assert response.status_code == 200
    async with database.sessionmaker() as db:
        upgraded = (await db.get(User, user.id)).password_hash  # type: ignore[union-attr]
    assert upgraded != weaker
    assert "m=65536,t=3,p=1" in upgraded


async def test_demo_accounts_sign_in(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    from carebridge.accounts.demo import DEMO_PASSWORD, DEMO_USERS, seed_demo

    async with database.transaction() as db:
        assert await seed_demo(db, settings) == len(DEMO_USERS)
        assert await seed_demo(db, settings) == 0
    for email, _, _ in DEMO_USERS:
        response = await client.post(LOGIN, json={"email": email, "password": DEMO_PASSWORD})
        assert response.status_code == 200, email
