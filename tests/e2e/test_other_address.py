"""A clinic tries CareBridge on another port (`carebridge serve --port 8010`) without changing
CAREBRIDGE_PUBLIC_BASE_URL: its pages still get live updates (outside production the address
being served may open the WebSocket too)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from carebridge.accounts.models import Role, User, UserStatus
from carebridge.config import Settings
from carebridge.platform.db import Database
from tests.factories import PASSWORD, PASSWORD_HASH
from tests.factories.live import clean_up, server_env
from tests.helpers import running_server


@pytest.fixture
def elsewhere(database_url: str, owner_engine: AsyncEngine, tmp_path: Path) -> Iterator[str]:
    """A server whose public URL is the default one, not the address it serves."""
    env = server_env(database_url, tmp_path, CAREBRIDGE_IN_PROCESS_WORKER="false")
    with running_server(env, tmp_path / "server.log", public_url="http://127.0.0.1:8000") as (
        base_url,
        _,
    ):
        yield base_url


@pytest.fixture
async def patient(settings: Settings) -> AsyncIterator[User]:
    database = Database.from_settings(settings)
    async with database.transaction() as db:
        user = User(
            email=f"pt-port-{uuid.uuid4().hex[:6]}@example.org",
            name="Pat Port",
            role=Role.patient,
            status=UserStatus.active,
            password_hash=PASSWORD_HASH,
        )
        db.add(user)
    yield user

    async def remove(db: AsyncSession) -> None:
        await db.execute(delete(User).where(User.id == user.id))

    await clean_up(database, remove)
    await database.dispose()


async def test_pages_served_at_another_address_than_the_public_url_are_live(
    browser: Browser, elsewhere: str, patient: User
) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    try:
        await page.goto(elsewhere + "/signin")
        await page.fill("input[name=email]", patient.email)
        await page.fill("input[name=password]", PASSWORD)
        await page.click("#signin-submit")
        await page.wait_for_load_state()
        await page.goto(elsewhere + "/home")
        await expect(page.locator("#live-state")).to_have_text("Live", timeout=15_000)
    finally:
        await context.close()
