"""People: real users in the test's transaction, sign-ins over HTTP, bearer headers without a
password round trip, and users a test commits itself."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import delete

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import Role, User, UserStatus
from carebridge.accounts.service import start_session
from carebridge.accounts.tokens import KeyStore
from carebridge.app import create_app
from carebridge.config import Settings
from carebridge.platform.context import SYSTEM
from carebridge.platform.db import Database
from carebridge.platform.passwords import hash_password

PASSWORD = "sturdy-lantern-orchid-42"
# Hashed as the tests' servers hash (make_settings, server_env: the minimal cost), so that a
# sign-in does not hash it again at the standard cost.
PASSWORD_HASH = hash_password(PASSWORD, cost="minimal")


@dataclass
class SignedIn:
    user_id: uuid.UUID
    email: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


Headers = dict[str, str]


@dataclass
class Person:
    """A user and the bearer headers of a session of theirs."""

    user: User
    headers: Headers


MakeUser = Callable[..., Awaitable[User]]
SignIn = Callable[..., Awaitable[SignedIn]]
TokenFor = Callable[[User], Awaitable[Headers]]


@pytest.fixture
def make_user(database: Database) -> MakeUser:
    return user_maker(database)


def user_maker(database: Database) -> MakeUser:
    """``make_user`` over any database (a live server's too): the rows are committed there."""

    async def make(
        role: Role = Role.patient, status: UserStatus = UserStatus.active, email: str | None = None
    ) -> User:
        async with database.transaction() as db:
            user = User(
                email=email or f"{role}-{uuid.uuid4().hex[:8]}@clinic.example",
                name=f"Test {role}",
                role=role,
                status=status,
                password_hash=PASSWORD_HASH,
            )
            db.add(user)
        return user

    return make


@pytest.fixture
def sign_in(client: httpx.AsyncClient, make_user: MakeUser) -> SignIn:
    async def sign(role: Role = Role.patient, status: UserStatus = UserStatus.active) -> SignedIn:
        user = await make_user(role, status)
        response = await client.post(
            "/api/v1/auth/login", json={"email": user.email, "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        return SignedIn(user.id, user.email, body["access_token"], body["refresh_token"])

    return sign


@pytest.fixture
def token_for(database: Database, settings: Settings) -> TokenFor:
    """Bearer headers of a new session of ``user``, issued at the current (possibly moved)
    clock, without a password round trip."""
    return tokens_for(database, settings)


def tokens_for(database: Database, settings: Settings) -> TokenFor:
    """``token_for`` over any database and settings (a live server's too)."""
    keys = KeyStore(settings)

    async def issue(user: User) -> Headers:
        async with database.transaction() as db:
            pair = await start_session(db, keys, user, SYSTEM)
        return {"Authorization": f"Bearer {pair.access_token}"}

    return issue


@dataclass
class Committed:
    """An app on its own connection pool, so requests really run concurrently. What it writes
    is committed; the user it made is deleted afterwards (with its sessions and codes)."""

    client: httpx.AsyncClient
    database: Database
    user: User


@pytest.fixture
async def committed(settings: Settings) -> AsyncIterator[Committed]:
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        database: Database = app.state.runtime.database
        async with database.transaction() as db:
            user = User(
                email=f"race-{uuid.uuid4().hex[:8]}@clinic.example",
                name="Race",
                role=Role.patient,
                status=UserStatus.active,
                password_hash=PASSWORD_HASH,
            )
            db.add(user)
        try:
            yield Committed(client, database, user)
        finally:
            async with database.transaction() as db:
                await db.execute(delete(User).where(User.id == user.id))


def doctor_and_patients(prefix: str, count: int) -> tuple[User, list[User]]:
    """An approved doctor and ``count`` patients, not yet added (for tests that commit
    their own rows, such as the races: add them, flush, then add the doctor's profile)."""
    tag = uuid.uuid4().hex[:8]
    doctor = User(
        email=f"{prefix}-dr-{tag}@clinic.example",
        name="Dr Race",
        role=Role.doctor,
        status=UserStatus.active,
        password_hash="x",
        approved_at=datetime.now(UTC),
    )
    patients = [
        User(
            email=f"{prefix}-{tag}-{n}@clinic.example",
            name=f"Patient {n}",
            role=Role.patient,
            status=UserStatus.active,
            password_hash="x",
        )
        for n in range(count)
    ]
    return doctor, patients


def an_actor(role: Role, user_id: uuid.UUID | None = None) -> Actor:
    """A caller for a rule that reads no row (a policy's predicates): active, signed in."""
    return Actor(user_id or uuid.uuid4(), role, UserStatus.active, uuid.uuid4())
