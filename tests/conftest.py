"""Test harness: one real PostgreSQL per session (embedded by default, or
CAREBRIDGE_TEST_DATABASE_URL), migrated once by the database's owner; the application connects
as a role of its own, as in production, and every test runs in a transaction rolled back at
the end."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

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
from tests.factories.apps import serving
from tests.factories.databases import admin_url, as_role, fresh_database
from tests.factories.routes import keep_built_routes
from tests.factories.settings import ROOT, make_settings

keep_built_routes()

# The fixtures that test folders share: registered once, for every test (a folder's own
# fixtures stay in its conftest). Their helpers are imported from tests.factories.
pytest_plugins = [
    "tests.factories.users",
    "tests.factories.apps",
    "tests.factories.directory",
    "tests.factories.notifications",
    "tests.factories.scheduling",
    "tests.factories.payments",
    "tests.factories.prescriptions",
    "tests.factories.web",
    "tests.factories.openapi",
    "tests.factories.calls",
    "tests.factories.visits",
]


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
    sessions share, hence a name of its own; dropped at the end (after the databases that
    grant it anything, which are dropped first as fixtures that depend on it)."""
    role = ApplicationRole(f"carebridge_test_app_{uuid.uuid4().hex[:10]}", uuid.uuid4().hex)
    with psycopg.connect(admin_url(postgres_server_url), autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(role.name), sql.Literal(role.password)
            )
        )
    yield role
    with psycopg.connect(admin_url(postgres_server_url), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role.name)))


@pytest.fixture(scope="session")
def owner_database_url(
    postgres_server_url: str, application_role: ApplicationRole
) -> Iterator[str]:
    """A fresh database for this test session, as its owner (the server's admin), who runs the
    migrations; dropped at the end."""
    with fresh_database(postgres_server_url) as url:
        yield url


@pytest.fixture(scope="session")
def database_url(owner_database_url: str, application_role: ApplicationRole) -> str:
    """The session's database as the application's role: what the application connects with."""
    return as_role(owner_database_url, application_role)


@pytest.fixture(scope="session")
async def migrated_template(
    postgres_server_url: str, application_role: ApplicationRole
) -> AsyncIterator[str]:
    """An empty database migrated by its owner, with the grants of the application's role
    (copies keep them), that ``fresh_owner_url`` copies; made on first use."""
    with fresh_database(postgres_server_url) as url:
        engine = create_async_engine(make_url(url).set(drivername="postgresql+asyncpg"))
        await upgrade(engine, grant_to=application_role)
        await engine.dispose()  # a template must have no connections
        yield str(make_url(url).database)


@pytest.fixture
def fresh_owner_url(postgres_server_url: str, migrated_template: str) -> Iterator[str]:
    """A migrated database of this test's own, with nothing in it (as a new server's), as its
    owner: for tests that commit and must see only their own rows; dropped afterwards."""
    with fresh_database(postgres_server_url, migrated_template) as url:
        yield url


@pytest.fixture
def fresh_url(fresh_owner_url: str, application_role: ApplicationRole) -> str:
    """That database as the application's role."""
    return as_role(fresh_owner_url, application_role)


@pytest.fixture
async def fresh(fresh_url: str) -> AsyncIterator[Database]:
    engine = create_async_engine(make_url(fresh_url).set(drivername="postgresql+asyncpg"))
    yield Database(engine)
    await engine.dispose()


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
    async with serving(app) as client:
        yield client
