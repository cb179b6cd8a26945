"""Browser tests: a real CareBridge server process and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, ViewportSize, async_playwright
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from carebridge.accounts.models import Role, User, UserStatus
from carebridge.config import Settings
from carebridge.directory.models import DoctorProfile
from carebridge.platform.db import Database
from tests.e2e.world import PHONE, Browse, World, browsing, build_world, remove_world
from tests.factories.live import LiveServer, clean_up, mark_browser_tests, server_env
from tests.factories.settings import ROOT
from tests.factories.turn import TurnServer, real_coturn
from tests.factories.users import PASSWORD_HASH
from tests.helpers import running_server

CHROMIUM = Path("/usr/bin/chromium")
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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_browser_tests(items)


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
        # Emails are sent, prescription PDFs rendered and data exports built by the server's own
        # worker; only those queues, so the jobs other tests defer are left to them.
        CAREBRIDGE_IN_PROCESS_WORKER="true",
        CAREBRIDGE_WORKER_QUEUES="notifications,prescriptions,exports",
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


# The call pages: a fake camera and microphone that need no click, and sound that may start
# without one (the fake devices are a test pattern and a beep).
MEDIA_ARGS = [
    *CHROMIUM_ARGS,
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]


@pytest.fixture(scope="session")
async def media_browser() -> AsyncIterator[Browser]:
    """Chromium that answers every camera and microphone request with its fake devices."""
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed (apt-get install chromium); .ci/run installs it")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=MEDIA_ARGS
        )
        yield browser
        await browser.close()


@pytest.fixture(scope="session")
def coturn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TurnServer]:
    """coturn on loopback for the call pages (skipped when it is not installed)."""
    with real_coturn(tmp_path_factory.mktemp("coturn")) as server:
        yield server


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


@pytest.fixture
async def doctor_and_patient(settings: Settings) -> AsyncIterator[tuple[User, User]]:
    database = Database.from_settings(settings)
    now = datetime.now(UTC)
    tag = uuid.uuid4().hex[:6]
    async with database.transaction() as db:
        doctor = User(
            email=f"dr-live-{tag}@example.org",
            name=f"Dr. Live {tag}",
            role=Role.doctor,
            status=UserStatus.active,
            password_hash=PASSWORD_HASH,
            approved_at=now,
        )
        patient = User(
            email=f"pt-live-{tag}@example.org",
            name="Pat Live",
            role=Role.patient,
            status=UserStatus.active,
            password_hash=PASSWORD_HASH,
        )
        db.add_all([doctor, patient])
        await db.flush()
        db.add(DoctorProfile(user_id=doctor.id, verified_at=now, bio="Family doctor."))
    yield doctor, patient

    async def remove(db: AsyncSession) -> None:
        await db.execute(delete(User).where(User.id.in_([doctor.id, patient.id])))

    await clean_up(database, remove)
    await database.dispose()
