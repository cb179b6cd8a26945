"""Test harness: one real PostgreSQL per session (embedded by default, or
CAREBRIDGE_TEST_DATABASE_URL), migrated once by the database's owner; the application connects
as a role of its own, as in production, and every test runs in a transaction rolled back at
the end."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from psycopg import sql
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from carebridge.app import create_app
from carebridge.config import Settings
from carebridge.platform.db import Database
from carebridge.platform.embedded import EmbeddedPostgres
from carebridge.platform.logging import configure_logging
from carebridge.platform.migrate import upgrade
from carebridge.platform.roles import ApplicationRole

ROOT = Path(__file__).resolve().parent.parent
pytest_plugins = ["tests.factories"]
TEST_SECRET = "test-only-secret-key-0123456789abcdefghijklmnop"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("CAREBRIDGE_REDIS_URL"):
        return
    skip = pytest.mark.skip(reason="CAREBRIDGE_REDIS_URL is not set")
    for item in items:
        if "redis" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A PostgreSQL server we may create databases on."""
    url = os.environ.get("CAREBRIDGE_TEST_DATABASE_URL")
    if url:
        yield url
        return
    embedded = EmbeddedPostgres(ROOT / "var" / "test" / "postgres", database="postgres")
    yield embedded.start()
    embedded.stop()


@pytest.fixture(scope="session")
def application_role(postgres_server_url: str) -> Iterator[ApplicationRole]:
    """The role the application connects as in tests, like production's: it owns nothing, and
    migrations grant it what it needs. Roles belong to the whole server, which other test
    sessions share, hence a name of its own; dropped at the end."""
    role = ApplicationRole(f"carebridge_test_app_{uuid.uuid4().hex[:10]}", uuid.uuid4().hex)
    with psycopg.connect(_server_admin_url(postgres_server_url), autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(role.name), sql.Literal(role.password)
            )
        )
    yield role
    with psycopg.connect(_server_admin_url(postgres_server_url), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role.name)))


@pytest.fixture(scope="session")
def owner_database_url(
    postgres_server_url: str, application_role: ApplicationRole
) -> Iterator[str]:
    """A fresh database for this test session, as its owner (the server's superuser), who runs
    the migrations; dropped at the end (before the application's role, which has grants here)."""
    name = f"carebridge_test_{uuid.uuid4().hex[:10]}"
    admin = _server_admin_url(postgres_server_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture(scope="session")
def database_url(owner_database_url: str, application_role: ApplicationRole) -> str:
    """The session's database as the application's role: what the application connects with."""
    return as_role(owner_database_url, application_role)


def as_role(url: str, role: ApplicationRole) -> str:
    """``url`` with ``role``'s name and password."""
    with_role = make_url(url).set(username=role.name, password=role.password)
    return with_role.render_as_string(hide_password=False)


def _server_admin_url(postgres_server_url: str) -> str:
    return (
        make_url(postgres_server_url)
        .set(drivername="postgresql")
        .render_as_string(hide_password=False)
    )


def make_settings(tmp_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "environment": "test",
        "data_dir": tmp_dir,
        "secret_key": TEST_SECRET,
        "encryption_key": TEST_SECRET,
        "in_process_worker": False,
        "redis_url": None,
        "_env_file": None,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def settings(
    database_url: str, owner_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    settings = make_settings(
        tmp_path_factory.mktemp("data"),
        database_url=database_url,
        migration_database_url=owner_database_url,
    )
    configure_logging(settings)
    return settings


@pytest.fixture(scope="session")
async def owner_engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """The database's owner, which migrates it to head once and grants the application's role
    its privileges. Tests use it only for what the application must not be able to do."""
    engine = create_async_engine(settings.migration_sqlalchemy_url)
    await upgrade(engine, grant_to=ApplicationRole.of(settings))
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def engine(settings: Settings, owner_engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """The application's engine: every test runs as the application's role, so the suite
    shows its grants are enough for every code path."""
    engine = create_async_engine(settings.sqlalchemy_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def database(engine: AsyncEngine) -> AsyncIterator[Database]:
    """Sessions bound to one outer transaction that is rolled back after the test."""
    async with engine.connect() as conn:
        transaction = await conn.begin()
        yield Database(engine, bind=conn)
        await transaction.rollback()


@pytest.fixture
def app(settings: Settings, database: Database) -> FastAPI:
    return create_app(settings, database=database)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://testserver",
        ) as client,
    ):
        yield client
