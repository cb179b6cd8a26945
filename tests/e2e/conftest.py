"""Browser tests: a real CareBridge server process and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, ViewportSize, async_playwright
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from carebridge.accounts.models import User
from carebridge.config import Settings
from carebridge.platform.db import Database
from tests.conftest import ROOT, TEST_SECRET
from tests.e2e.world import PHONE, Browse, World, browsing, build_world, remove_world
from tests.helpers import clean_env, running_server

CHROMIUM = Path("/usr/bin/chromium")
E2E_DIR = Path(__file__).resolve().parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


async def clean_up(database: Database, remove: Callable[[AsyncSession], Awaitable[None]]) -> None:
    """Remove a test's committed rows. The live server's worker may still be working on them
    (a delivery, a presence sweep), so a deadlock with it is retried."""
    for attempt in range(1, 4):
        try:
            async with database.transaction() as db:
                await remove(db)
            return
        except DBAPIError as error:
            if "deadlock detected" not in str(error.orig) or attempt == 3:
                raise
            await asyncio.sleep(0.2 * attempt)


class LiveServer(str):
    """The server's base URL, which also knows its data dir (where its emails are written)."""

    data_dir: Path

    def __new__(cls, url: str, data_dir: Path) -> LiveServer:
        server = super().__new__(cls, url)
        server.data_dir = data_dir
        return server


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The hook sees every collected item of the session, not only this folder's: mark ours.
    for item in items:
        if item.path.is_relative_to(E2E_DIR):
            item.add_marker(pytest.mark.e2e)


def server_env(database_url: str, data_dir: Path, **values: str) -> dict[str, str]:
    """The environment of a live server connected as the application's role, like a production
    server (the database's owner has migrated it: ``owner_engine``), plus ``values``."""
    return clean_env(
        CAREBRIDGE_ENVIRONMENT="test",
        CAREBRIDGE_DATABASE_URL=database_url,
        CAREBRIDGE_DATA_DIR=str(data_dir),
        # Processes that share a database share its keys (signing keys are encrypted with them).
        CAREBRIDGE_SECRET_KEY=TEST_SECRET,
        CAREBRIDGE_ENCRYPTION_KEY=TEST_SECRET,
        **values,
    )


# Package scope: the server (and its worker on the notifications queue) stops when the browser
# tests are done, so it cannot take the jobs that later tests defer and run themselves.
@pytest.fixture(scope="package")
def live_server(
    database_url: str, owner_engine: AsyncEngine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("e2e")
    env = server_env(
        database_url,
        data_dir,
        # Emails are sent and prescription PDFs rendered by the server's own worker; only those
        # queues, so the jobs other tests defer are left to them.
        CAREBRIDGE_IN_PROCESS_WORKER="true",
        CAREBRIDGE_WORKER_QUEUES="notifications,prescriptions",
    )
    with running_server(env, data_dir / "server.log") as (base_url, _):
        yield LiveServer(base_url, data_dir)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed (apt-get install chromium); .ci/run installs it")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        await browser.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
async def world(settings: Settings) -> AsyncIterator[World]:
    """One person of every role and appointments around now (tests/e2e/world.py), committed."""
    database = Database.from_settings(settings)
    async with database.transaction() as db:
        made = await build_world(db)
    yield made

    async def remove(db: AsyncSession) -> None:
        await remove_world(db, made)

    await clean_up(database, remove)
    await database.dispose()


@pytest.fixture
def browse(browser: Browser, live_server: LiveServer, settings: Settings) -> Browse:
    """Open a page signed in as someone (tests/e2e/world.py: ``browsing``)."""

    def open_page(
        user: User | None, viewport: ViewportSize = PHONE, *, javascript: bool = True
    ) -> AbstractAsyncContextManager[Page]:
        return browsing(browser, live_server, settings, user, viewport, javascript=javascript)

    return open_page
