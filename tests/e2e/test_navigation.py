"""Finding one's way: the doctor's calendar pages through weeks and months, and "Upcoming" holds
only what is still ahead."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import Browser, Locator, Page, expect

from carebridge.config import Settings
from tests.e2e.conftest import LiveServer
from tests.e2e.world import DESKTOP, World, signed_in_context


async def next_until_shown(page: Page, entry: Locator, most: int) -> None:
    for _ in range(most):
        if await entry.count():
            break
        async with page.expect_navigation():
            await page.click("#calendar-next")
    await expect(entry).to_be_visible()


async def test_the_doctor_pages_the_calendar_by_weeks_and_months(
    browser: Browser, live_server: LiveServer, settings: Settings, world: World, artifacts: Path
) -> None:
    context = await signed_in_context(browser, live_server, settings, world.doctor, DESKTOP)
    try:
        page = await context.new_page()
        await page.goto(live_server + "/doctor/appointments")
        far = page.locator(f"#appointment-{world.appointments['in_five_weeks'].id}")
        await expect(page.locator("#week-1 h2")).to_contain_text("This week")
        await expect(page.locator(f"#appointment-{world.appointments['today'].id}")).to_be_visible()
        await expect(far).to_have_count(0)
        await next_until_shown(page, far, 5)
        assert re.search(r"\?week=\d{4}-\d{2}-\d{2}$", page.url)
        await page.screenshot(path=str(artifacts / "calendar-weeks.png"), full_page=True)
        # The address is the range: opened again, it shows the same weeks.
        await page.goto(page.url)
        await expect(far).to_be_visible()

        await page.click("#calendar-other")
        assert re.search(r"\?month=\d{4}-\d{2}$", page.url)
        await next_until_shown(page, far, 1)  # the month of the first week shown, or the next
        await page.click("#calendar-previous")
        await expect(far).to_have_count(0)
        await page.click("#calendar-next")
        await expect(far).to_be_visible()
        await page.screenshot(path=str(artifacts / "calendar-month.png"), full_page=True)

        await page.goto(live_server + "/doctor/appointments?week=not-a-day")
        await expect(page.locator("[role=alert]")).to_contain_text("no week or month")
        await expect(page.locator("#week-1 h2")).to_contain_text("This week")
    finally:
        await context.close()


async def test_upcoming_lists_only_scheduled_and_held_appointments_that_have_not_ended(
    browser: Browser, live_server: LiveServer, settings: Settings, world: World
) -> None:
    for person in (world.patient, world.doctor):
        context = await signed_in_context(browser, live_server, settings, person, DESKTOP)
        try:
            page = await context.new_page()
            await page.goto(live_server + "/appointments")
            for name, section in {
                "today": "#upcoming",
                "held": "#upcoming",
                "in_five_weeks": "#upcoming",
                "done_early": "#past",  # completed, though its end is still ahead
                "cancelled": "#past",  # cancelled, though it was to start later today
                "yesterday": "#past",  # never marked, but over
            }.items():
                entry = f"#appointment-{world.appointments[name].id}"
                await expect(page.locator(f"{section} {entry}")).to_be_visible()
                await expect(page.locator(entry)).to_have_count(1)
        finally:
            await context.close()
