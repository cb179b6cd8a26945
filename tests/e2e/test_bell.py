"""The bell in the header counts unread notifications and falls when one is read."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import delete

from carebridge.accounts.models import Role, User, UserStatus
from carebridge.config import Settings
from carebridge.notifications.service import notify
from carebridge.platform.db import Database
from tests.factories import PASSWORD, PASSWORD_HASH
from tests.factories.live import LiveServer


@pytest.fixture
async def committed_user(settings: Settings) -> AsyncIterator[tuple[Database, User]]:
    database = Database.from_settings(settings)
    async with database.transaction() as db:
        user = User(
            email=f"bell-{uuid.uuid4().hex[:6]}@example.org",
            name="Bell Tester",
            role=Role.patient,
            status=UserStatus.active,
            password_hash=PASSWORD_HASH,
        )
        db.add(user)
    yield database, user
    async with database.transaction() as db:
        await db.execute(delete(User).where(User.id == user.id))
    await database.dispose()


async def test_bell_count_rises_with_a_new_notification_and_falls_when_read(
    browser: Browser,
    live_server: LiveServer,
    committed_user: tuple[Database, User],
    client: object,
) -> None:
    database, user = committed_user
    page = await browser.new_page()
    await page.goto(live_server + "/signin")
    await page.fill("input[name=email]", user.email)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("#signin-submit")
    await page.wait_for_url("**/home")
    bell = page.locator("#bell-count")
    await expect(bell).to_have_text("")

    async with database.transaction() as db:
        await notify(
            db, user.id, "review_received", "Your lab results are ready", "Open to see them."
        )
    await expect(bell).to_have_text("1", timeout=15_000)

    await page.click("#bell")
    await page.wait_for_url("**/notifications")
    assert "Your lab results are ready" in await page.inner_text(".inbox")
    await page.click(".mark-read")
    await page.wait_for_url("**/notifications")
    await expect(bell).to_have_text("", timeout=15_000)
    await page.close()
