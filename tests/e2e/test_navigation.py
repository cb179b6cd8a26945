"""Finding one's way: the header keeps its menu on the 404 page, the doctor's calendar pages
through weeks and months, and "Upcoming" holds only what is still ahead."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from playwright.async_api import Browser, Locator, Page, expect

from carebridge.config import Settings
from tests.e2e.conftest import LiveServer
from tests.e2e.world import DESKTOP, World, signed_in_context


async def test_the_404_page_keeps_the_signed_in_header_and_tells_nothing_more(
    browser: Browser, live_server: LiveServer, settings: Settings, world: World
) -> None:
    nurse = await signed_in_context(browser, live_server, settings, world.nurse, DESKTOP)
    visitor = await signed_in_context(browser, live_server, settings, None, DESKTOP)
    try:
        page = await nurse.new_page()
        mains = []
        # No such page, no such appointment, and someone else's appointment: one answer.
        for path in (
            "/no-such-page",
            f"/appointments/{uuid.uuid4()}",
            f"/appointments/{world.appointments['today'].id}",
        ):
            response = await page.goto(live_server + path)
            assert response is not None
            assert response.status == 404
            await expect(page.locator("h1")).to_have_text("Page not found")
            await expect(page.locator("#nav-home")).to_be_visible()
            await expect(page.locator("#signout")).to_be_visible()
            await expect(page.locator("#nav-signin")).to_have_count(0)
            shown = await page.locator("main").inner_text()
            mains.append(re.sub(r"Request id: \S+", "", shown))
        assert mains[1] == mains[2]
        assert mains[0] == mains[1]

        anonymous = await visitor.new_page()
        await anonymous.goto(live_server + "/no-such-page")
        await expect(anonymous.locator("h1")).to_have_text("Page not found")
        await expect(anonymous.locator("#nav-signin")).to_be_visible()
        await expect(anonymous.locator("#signout")).to_have_count(0)
    finally:
        await nurse.close()
        await visitor.close()


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
