"""Finding one's way: each role lands on its own home after signing in, the header keeps its
menu on the 404 page, a doctor not yet verified is told why they cannot go online, the doctor's
calendar pages through weeks and months, and "Upcoming" holds only what is still ahead."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from playwright.async_api import Browser, Locator, Page, expect
from sqlalchemy import update

from carebridge.config import Settings
from carebridge.directory.models import DoctorProfile
from carebridge.platform.db import Database
from tests.e2e.world import DESKTOP, Browse, World
from tests.factories.live import LiveServer, signed_in


async def test_each_role_lands_on_its_home_after_signing_in(
    browser: Browser, live_server: LiveServer, world: World, artifacts: Path
) -> None:
    _, patient = await signed_in(browser, live_server, world.patient)
    next_one = world.appointments["today"]
    link = patient.locator("#next-appointment-link")
    await expect(link).to_contain_text(world.doctor.name)
    assert await link.get_attribute("href") == f"/appointments/{next_one.id}"
    await expect(patient.get_by_role("heading", name="Doctors online now")).to_be_visible()
    # The API is for developers: in the footer, not in a patient's menu.
    await expect(patient.locator("header a[href='/api/docs']")).to_have_count(0)
    await expect(patient.locator("footer a[href='/api/docs']")).to_be_visible()
    await patient.screenshot(path=str(artifacts / "home-patient.png"), full_page=True)

    _, doctor = await signed_in(browser, live_server, world.doctor)
    today = doctor.locator("#today")
    for name in ("today", "done_early"):
        await expect(today.locator(f"#today-{world.appointments[name].id}")).to_be_visible()
    await expect(today.locator(f"#today-{world.appointments['cancelled'].id}")).to_have_count(0)
    await expect(today).to_contain_text(world.patient.name)
    await expect(doctor.locator("#go-online")).to_be_visible()
    await doctor.screenshot(path=str(artifacts / "home-doctor.png"), full_page=True)

    _, admin = await signed_in(browser, live_server, world.admin)
    verify = admin.locator("#attention-verify a")
    await expect(verify).to_contain_text(re.compile(r"\d+ doctors? waits? for verification"))
    await expect(admin.locator("#attention-deliveries")).to_contain_text("otification")
    await expect(admin.locator("#attention-reviews")).to_contain_text("hidden")
    await admin.screenshot(path=str(artifacts / "home-admin.png"), full_page=True)
    await verify.click()
    await expect(admin.locator("#verification-queue")).to_contain_text(world.pending_doctor.name)

    _, nurse = await signed_in(browser, live_server, world.nurse)
    await expect(nurse.locator("h1")).to_have_text("Home")
    for page in (patient, doctor, admin, nurse):
        await page.context.close()


async def test_the_404_page_keeps_the_signed_in_header_and_tells_nothing_more(
    browse: Browse, live_server: LiveServer, world: World
) -> None:
    async with browse(world.nurse, DESKTOP) as page:
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

    async with browse(None, DESKTOP) as anonymous:
        await anonymous.goto(live_server + "/no-such-page")
        await expect(anonymous.locator("h1")).to_have_text("Page not found")
        await expect(anonymous.locator("#nav-signin")).to_be_visible()
        await expect(anonymous.locator("#signout")).to_have_count(0)


async def test_a_doctor_awaiting_verification_is_told_why_they_cannot_go_online(
    browse: Browse, live_server: LiveServer, settings: Settings, world: World, artifacts: Path
) -> None:
    async with browse(world.pending_doctor, DESKTOP) as page:
        await page.goto(live_server + "/home")
        await expect(page.locator("#not-verified")).to_contain_text(
            "An administrator must verify your licence before you can go online."
        )
        await expect(page.locator("#go-online")).to_have_count(0)
        await expect(page.locator("#enter-licence")).to_have_attribute("href", "/doctor/profile")
        await page.screenshot(path=str(artifacts / "home-doctor-not-verified.png"))

    # A verified doctor's page is open when a new licence number puts them back in the queue:
    # the switch they press answers with the same explanation, not a bare refusal.
    async with browse(world.doctor, DESKTOP) as page:
        await page.goto(live_server + "/home")
        database = Database.from_settings(settings)
        async with database.transaction() as db:
            await db.execute(
                update(DoctorProfile)
                .where(DoctorProfile.user_id == world.doctor.id)
                .values(verified_at=None, license_number="LIC-NEW")
            )
        await database.dispose()
        await page.click("#go-online")
        await expect(page.locator("[role=alert]")).to_contain_text("must verify your licence")
        await expect(page.locator("#not-verified")).to_be_visible()
        await expect(page.locator("header #nav-calendar")).to_be_visible()
        await expect(page.locator("#go-online")).to_have_count(0)


async def next_until_shown(page: Page, entry: Locator, most: int) -> None:
    for _ in range(most):
        if await entry.count():
            break
        async with page.expect_navigation():
            await page.click("#calendar-next")
    await expect(entry).to_be_visible()


async def test_the_doctor_pages_the_calendar_by_weeks_and_months(
    browse: Browse, live_server: LiveServer, world: World, artifacts: Path
) -> None:
    async with browse(world.doctor, DESKTOP) as page:
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


async def test_upcoming_lists_only_scheduled_and_held_appointments_that_have_not_ended(
    browse: Browse, live_server: LiveServer, world: World
) -> None:
    for person in (world.patient, world.doctor):
        async with browse(person, DESKTOP) as page:
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
