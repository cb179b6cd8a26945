"""A home visit asked for and assigned in a browser (issue 20's web app, in part): on a phone, the
patient shares their location (Chromium's geolocation override), corrects the point with a tap
on the map and sends the request; the dispatcher opens the board, sees the visit on the map,
asks for suggestions and assigns the nurse; the patient's page then names the nurse. No script
error and no Content-Security-Policy violation on the way. Screenshots in test-artifacts/."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from playwright.async_api import ConsoleMessage, Page, expect
from sqlalchemy import select

from carebridge.config import Settings
from carebridge.platform.db import Database
from carebridge.visits.models import Visit, VisitStatus
from tests.e2e.world import DESKTOP, Browse, World
from tests.factories.live import LiveServer
from tests.factories.visits import HOME, on_roster, visit_in


def watch(page: Page, errors: list[str]) -> None:
    page.on("pageerror", lambda error: errors.append(str(error)))

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", console)


async def fits_the_phone(page: Page) -> None:
    sideways = await page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
    assert not sideways, page.url


async def test_a_patient_requests_a_visit_on_the_map_and_the_dispatcher_assigns_it(
    browse: Browse, world: World, live_server: LiveServer, settings: Settings, artifacts: Path
) -> None:
    database = Database.from_settings(settings)
    try:
        await on_roster(database, world.nurse)
        # A second request whose address is on no map: the dispatcher places it.
        unplaced = await visit_in(
            database, settings, world.patient, VisitStatus.requested, point=None
        )
        await request_and_assign(browse, world, live_server, artifacts, database, unplaced)
    finally:
        await database.dispose()


async def request_and_assign(
    browse: Browse,
    world: World,
    live_server: LiveServer,
    artifacts: Path,
    database: Database,
    unplaced: uuid.UUID,
) -> None:
    """The patient's request on a phone, the dispatcher's two assignments, the patient's page."""
    errors: list[str] = []

    async with browse(world.patient) as page:
        watch(page, errors)
        await page.context.grant_permissions(["geolocation"], origin=str(live_server))
        await page.context.set_geolocation({"latitude": HOME[0], "longitude": HOME[1]})
        await page.goto(f"{live_server}/visits")
        await page.click("#request-visit")
        await expect(page.locator("#visit-map.leaflet-container")).to_be_visible()
        await expect(page.locator("#visit-map-note")).to_contain_text("No street map")

        await page.select_option("#visit-service", "wound_care")
        await page.fill("#visit-address", "12 rue de la République, 69002 Lyon")
        await page.click("#use-location")
        await expect(page.locator("#visit-lat")).to_have_value(str(HOME[0]))
        await expect(page.locator("#location-status")).to_contain_text("your location")
        # A tap beside the marker moves the point there.
        await page.click("#visit-map", position={"x": 250, "y": 200})
        await expect(page.locator("#location-status")).to_have_text(re.compile(r"^Placed at \d"))
        lat = float(await page.input_value("#visit-lat"))
        lng = float(await page.input_value("#visit-lng"))
        assert (lat, lng) != HOME
        assert abs(lat - HOME[0]) < 0.05
        assert abs(lng - HOME[1]) < 0.05
        await page.fill("#visit-access", "Door code 4821, third floor")
        await fits_the_phone(page)
        await page.screenshot(path=str(artifacts / "visit-request-form.png"), full_page=True)
        await page.click("#visit-submit")

        await expect(page.locator("#visit-status")).to_have_text("Waiting for a nurse")
        await expect(page.locator(".notice")).to_contain_text("Your request is sent")
        match = re.search(r"/visits/([0-9a-f-]{36})", page.url)
        assert match
        visit_id = match.group(1)
        await expect(page.locator("#visit-map path.leaflet-interactive")).to_have_count(1)
        await fits_the_phone(page)
        await page.screenshot(path=str(artifacts / "visit-requested.png"), full_page=True)

    async with browse(world.admin, DESKTOP) as page:
        watch(page, errors)
        await page.goto(f"{live_server}/dispatch")
        item = page.locator(f"#dispatch-{visit_id}")
        await expect(item).to_contain_text("Wound care")
        await expect(item).to_contain_text("12 rue de la République")
        # The visit and the nurse's base on the map.
        points = page.locator("#board-map path.leaflet-interactive")
        assert await points.count() >= 2
        await page.click(f"#suggest-{visit_id}")
        assign = page.locator(f"#assign-{visit_id}-{world.nurse.id}")
        await expect(assign).to_be_visible()
        await expect(page.locator(f"#suggestion-{visit_id}-{world.nurse.id}")).to_contain_text("km")
        await page.screenshot(path=str(artifacts / "visit-dispatch-board.png"), full_page=True)
        await assign.click()
        await expect(page.locator(".notice")).to_contain_text("Nurse assigned")
        await expect(page.locator(f"#dispatch-{visit_id}")).to_have_count(0)

        # The visit without a point: placed with a click on the map, sent with the assignment.
        await expect(page.locator(f"#dispatch-{unplaced}")).to_contain_text("not on the map yet")
        await page.click(f"#suggest-{unplaced}")
        await page.click(f"#place-{unplaced}")
        await expect(page.locator("#place-status")).to_contain_text("Click the map")
        await page.click("#board-map", position={"x": 200, "y": 150})
        await expect(page.locator(f"[data-place-note='{unplaced}']")).to_contain_text("Placed at")
        # The lists refresh by themselves (htmx polling); the open panel and its point stay.
        await page.evaluate(
            "window.swaps = 0; document.body.addEventListener('htmx:afterSwap', () => swaps++)"
        )
        await page.wait_for_function("() => window.swaps > 0", timeout=25_000)
        lat = page.locator(f"#suggestions-{unplaced} [data-place-lat='{unplaced}']").first
        assert await lat.input_value() != ""
        await page.click(f"#assign-{unplaced}-{world.nurse.id}")
        await expect(page.locator(".notice")).to_contain_text("Nurse assigned")
        async with database.transaction() as db:
            placed = await db.scalar(select(Visit).where(Visit.id == unplaced))
        assert placed is not None
        assert placed.status == VisitStatus.assigned.value
        assert placed.lat is not None
        assert placed.lng is not None

    async with browse(world.patient) as page:
        watch(page, errors)
        await page.goto(f"{live_server}/visits/{visit_id}")
        await expect(page.locator("#visit-status")).to_have_text("Nurse assigned")
        await expect(page.locator("#visit-nurse")).to_have_text(world.nurse.name)
        await page.screenshot(path=str(artifacts / "visit-assigned.png"), full_page=True)
    assert errors == []
