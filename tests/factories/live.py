"""Helpers of the browser tests: the live server (a real ``carebridge serve``) and its
environment, signing in with Chromium, users a test commits and removes, and the ``e2e`` mark."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.models import Role, User, UserStatus
from carebridge.platform.db import Database
from tests.factories.settings import ROOT, TEST_SECRET
from tests.factories.users import PASSWORD, PASSWORD_HASH
from tests.helpers import clean_env

E2E_DIR = ROOT / "tests" / "e2e"


class LiveServer(str):
    """The server's base URL, which also knows its data dir (where its emails are written)."""

    data_dir: Path

    def __new__(cls, url: str, data_dir: Path) -> LiveServer:
        server = super().__new__(cls, url)
        server.data_dir = data_dir
        return server


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
        CAREBRIDGE_PASSWORD_HASH_COST="minimal",  # as the test users' hash (PASSWORD_HASH)
        **values,
    )


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


async def signed_in(browser: Browser, server: str, user: User) -> tuple[BrowserContext, Page]:
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(server + "/signin")
    await page.fill("input[name=email]", user.email)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("#signin-submit")
    await page.wait_for_url("**/home")
    return context, page


def new_user(tag: str, role: Role, name: str, zone: str) -> User:
    """An active user (an approved doctor) not yet added, with the test password."""
    return User(
        email=f"{role}-{name.split()[0].lower()}-{tag}@example.org",
        name=name,
        role=role,
        status=UserStatus.active,
        password_hash=PASSWORD_HASH,
        approved_at=datetime.now(UTC) if role == Role.doctor else None,
        time_zone=zone,
    )


def mark_browser_tests(items: list[pytest.Item]) -> None:
    """Mark the tests of tests/e2e, and only them, ``e2e`` (the e2e conftest's collection hook:
    a hook sees every collected item of the session, not only its folder's)."""
    for item in items:
        if item.path.is_relative_to(E2E_DIR):
            item.add_marker(pytest.mark.e2e)
