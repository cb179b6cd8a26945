"""An administrator in Chromium, from the menu: searches the audit trail (and finds their own
search on it), sends a dead email delivery again, opens the reviews moderation, and disables a
patient after confirming (their own row offers no Disable). Screenshots of each page go to
test-artifacts/."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.models import Role, User
from carebridge.config import Settings
from carebridge.notifications.models import Delivery, Notification
from carebridge.platform.db import Database
from tests.factories.live import LiveServer, clean_up, new_user, signed_in


@dataclass
class Office:
    admin: User
    patient: User
    dead: Delivery
    database: Database


@pytest.fixture
async def office(settings: Settings) -> AsyncIterator[Office]:
    """An administrator, and a patient whose reminder email gave up (a dead delivery)."""
    database = Database.from_settings(settings)
    tag = uuid.uuid4().hex[:6]
    admin = new_user(tag, Role.admin, "Ada Admin", "UTC")
    patient = new_user(tag, Role.patient, "Pia Patient", "UTC")
    async with database.transaction() as db:
        db.add_all([admin, patient])
        await db.flush()
        notification = Notification(
            recipient_id=patient.id, kind="review_received", title="Clinic news", body="Hello."
        )
        db.add(notification)
        await db.flush()
        dead = Delivery(
            notification_id=notification.id,
            channel="email",
            status="dead",
            attempts=8,
            last_error="550 5.1.1 mailbox unavailable",
        )
        db.add(dead)
    yield Office(admin, patient, dead, database)

    async def remove(db: AsyncSession) -> None:
        await db.execute(delete(User).where(User.id.in_([admin.id, patient.id])))

    await clean_up(database, remove)
    await database.dispose()


async def delivery_status(office: Office) -> str:
    async with office.database.sessionmaker() as db:
        return str(await db.scalar(select(Delivery.status).where(Delivery.id == office.dead.id)))


async def test_an_admin_works_through_the_admin_pages(
    browser: Browser, live_server: LiveServer, office: Office, artifacts: Path
) -> None:
    context, page = await signed_in(browser, live_server, office.admin)
    await page.set_viewport_size({"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        await audit_trail(page, office, artifacts)
        await deliveries(page, office, artifacts)
        await page.click("#nav-reviews")
        await expect(page.locator("h1")).to_have_text("Reviews")
        await page.screenshot(path=str(artifacts / "admin-reviews.png"), full_page=True)
        await disable_a_user(page, office, artifacts)
        assert errors == []
    finally:
        await context.close()


async def audit_trail(page: Page, office: Office, artifacts: Path) -> None:
    await page.click("#nav-audit")
    await expect(page.locator("h1")).to_have_text("Audit trail")
    await page.fill("#audit-actor", office.admin.email)
    await page.fill("#audit-action", "auth.")
    await page.click("#audit-submit")
    rows = page.locator("#audit-events tbody tr")
    await expect(rows.first).to_contain_text("auth.login")  # this admin's sign-in
    await expect(rows.first).to_contain_text(office.admin.email)
    # Viewing is audited: the search just made is on the trail.
    await page.fill("#audit-action", "audit.viewed")
    await page.click("#audit-submit")
    await expect(rows.first).to_contain_text("audit.viewed")
    await expect(rows.first).to_contain_text("action=auth.")
    await page.screenshot(path=str(artifacts / "admin-audit-trail.png"), full_page=True)


async def deliveries(page: Page, office: Office, artifacts: Path) -> None:
    await page.click("#nav-deliveries")
    await page.select_option("#filter-status", "dead")
    await page.select_option("#filter-channel", "email")
    await page.click("#filter-submit")
    row = page.locator(f"#delivery-{office.dead.id}")
    await expect(row).to_contain_text(office.patient.email)
    await expect(row).to_contain_text("550 5.1.1 mailbox unavailable")
    await page.screenshot(path=str(artifacts / "admin-deliveries-dead.png"), full_page=True)
    await row.get_by_role("button", name="Retry").click()
    await expect(page.locator(".notice")).to_contain_text("Sent again")
    await expect(page.locator("#filter-status")).to_have_value("dead")  # the same filter
    await expect(row).to_have_count(0)
    assert await delivery_status(office) != "dead"


async def disable_a_user(page: Page, office: Office, artifacts: Path) -> None:
    await page.get_by_role("link", name="Users", exact=True).click()
    await page.fill("input[name=q]", office.admin.email)
    await page.press("input[name=q]", "Enter")
    own = page.locator(f"#user-{office.admin.id}")
    await expect(own).to_contain_text("(you)")
    await expect(own.get_by_role("button", name="Disable…")).to_have_count(0)

    await page.fill("input[name=q]", office.patient.email)
    await page.press("input[name=q]", "Enter")
    row = page.locator(f"#user-{office.patient.id}")
    await row.get_by_role("button", name="Disable…").click()
    await expect(page.locator("h1")).to_have_text("Disable this account?")
    await expect(page.locator("#confirm-disable")).to_contain_text(office.patient.email)
    await page.screenshot(path=str(artifacts / "admin-disable-confirm.png"), full_page=True)
    await page.click("#confirm-disable-submit")
    await expect(page.locator(".notice")).to_contain_text("The account is disabled")
    await page.fill("input[name=q]", office.patient.email)
    await page.press("input[name=q]", "Enter")
    await expect(row).to_contain_text("disabled")
    await expect(row.get_by_role("button", name="Enable")).to_be_visible()
    await page.screenshot(path=str(artifacts / "admin-users-after-disable.png"), full_page=True)
