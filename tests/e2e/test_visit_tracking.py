"""Issue 20's acceptance in Chromium: two phones. The nurse's phone (geolocation allowed, its
position overridden) presses "On my way" and walks 20 points towards the patient's home; the
patient's tracking page follows it live: the nurse's marker moves with each point, the distance
and the arrival estimate shrink, and the nurse's page offers "Arrived" once within 150 m of the
home. A server of its own lets a position through every 0.5 s (CAREBRIDGE_VISIT_POSITION_SECONDS)
rather than 5 s, so the walk takes seconds, not minutes. Screenshots of both phones go to
``test-artifacts/``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from carebridge.accounts.models import Role, User
from carebridge.config import Settings
from carebridge.platform.db import Database
from carebridge.visits.geo import distance_m
from carebridge.visits.models import VisitStatus
from tests.e2e.world import browsing
from tests.factories.live import LiveServer, clean_up, server_env
from tests.factories.users import user_maker
from tests.factories.visits import HOME, on_roster, visit_in
from tests.helpers import running_server

STEPS = 20
START = (45.7790, 4.8540)  # about 2.1 km north-east of HOME
END = (HOME[0] + 0.0003, HOME[1] + 0.0002)  # about 40 m from the door
ARRIVAL_METRES = 150


def walk() -> list[tuple[float, float]]:
    """20 points in a straight line from START to END."""
    return [
        (
            round(START[0] + (END[0] - START[0]) * i / (STEPS - 1), 6),
            round(START[1] + (END[1] - START[1]) * i / (STEPS - 1), 6),
        )
        for i in range(STEPS)
    ]


@pytest.fixture(scope="module")
def tracking_server(
    database_url: str, owner_engine: AsyncEngine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("visit-tracking")
    env = server_env(
        database_url,
        data_dir,
        CAREBRIDGE_VISIT_POSITION_SECONDS="0.5",
        CAREBRIDGE_IN_PROCESS_WORKER="false",
    )
    with running_server(env, data_dir / "server.log") as (base_url, _):
        yield LiveServer(base_url, data_dir)


@dataclass
class HomeVisit:
    patient: User
    nurse: User
    visit_id: Any


@pytest.fixture
async def home_visit(settings: Settings) -> AsyncIterator[HomeVisit]:
    """A patient and a nurse, committed, and the nurse's accepted visit to the patient's home,
    its window open now."""
    database = Database.from_settings(settings)
    make = user_maker(database)
    patient = await make(Role.patient)
    nurse = await make(Role.nurse)
    await on_roster(database, nurse)
    visit_id = await visit_in(
        database,
        settings,
        patient,
        VisitStatus.accepted,
        nurse=nurse,
        window_start=datetime.now(UTC) - timedelta(minutes=5),
    )
    yield HomeVisit(patient, nurse, visit_id)

    async def remove(db: AsyncSession) -> None:
        await db.execute(delete(User).where(User.id.in_([patient.id, nurse.id])))

    await clean_up(database, remove)
    await database.dispose()


FITS = "document.documentElement.scrollWidth <= window.innerWidth"


async def attribute(page: Page, selector: str, name: str) -> str:
    return str(await page.locator(selector).get_attribute(name))


async def test_the_patient_follows_the_nurse_to_the_door(
    browser: Browser,
    tracking_server: LiveServer,
    settings: Settings,
    home_visit: HomeVisit,
    artifacts: Path,
) -> None:
    points = walk()
    async with (
        browsing(browser, tracking_server, settings, home_visit.nurse) as nurse,
        browsing(browser, tracking_server, settings, home_visit.patient) as patient,
    ):
        await walk_to_the_door(tracking_server, home_visit, nurse, patient, points, artifacts)


async def walk_to_the_door(
    server: LiveServer,
    home_visit: HomeVisit,
    nurse: Page,
    patient: Page,
    points: list[tuple[float, float]],
    artifacts: Path,
) -> None:
    first = points[0]
    nurse_context = nurse.context
    await nurse_context.grant_permissions(["geolocation"])
    await nurse_context.set_geolocation(
        {"latitude": first[0], "longitude": first[1], "accuracy": 12}
    )
    errors: list[str] = []
    nurse.on("pageerror", lambda error: errors.append(f"nurse: {error}"))
    patient.on("pageerror", lambda error: errors.append(f"patient: {error}"))
    await patient.goto(f"{server}/visits/{home_visit.visit_id}/track")
    await expect(patient.locator("#live-state")).to_have_text("Live", timeout=10_000)
    await expect(patient.locator("#track-status")).to_have_text("The nurse confirmed the visit")
    await expect(patient.locator("#nurse-marker")).to_have_count(0)

    # The day: the visit numbered on the map and in the list, which opens it.
    await nurse.goto(f"{server}/nurse/visits")
    await expect(nurse.locator('#day-map [data-number="1"]')).to_have_count(1)
    await nurse.screenshot(path=str(artifacts / "visit-nurse-day.png"))
    await nurse.click(f"#visit-{home_visit.visit_id} .visit-open")
    await nurse.wait_for_url(f"**/nurse/visits/{home_visit.visit_id}")
    await nurse.click("#move-button-en_route")
    await nurse.wait_for_url("**?done=en_route")
    # Permission given: the page shares the location by itself after "On my way".
    await expect(nurse.locator("#share-state")).to_contain_text("Sharing", timeout=10_000)
    await expect(nurse.locator("#arrived-offer")).to_be_hidden()
    await expect(patient.locator("#track-status")).to_have_text("The nurse is on the way")

    marker = patient.locator("#nurse-marker")
    distances: list[float] = []
    estimates: list[int] = []
    screen: list[tuple[float, float]] = []
    for lat, lng in points:
        await nurse_context.set_geolocation({"latitude": lat, "longitude": lng, "accuracy": 12})
        await expect(marker).to_have_attribute("data-lat", str(lat), timeout=10_000)
        await expect(marker).to_have_attribute("data-lng", str(lng))
        distance = float(await attribute(patient, "#track-distance", "data-distance-m"))
        assert distance == pytest.approx(distance_m(lat, lng, *HOME), abs=1)
        distances.append(distance)
        estimates.append(int(await attribute(patient, "#track-eta", "data-eta-minutes")))
        box = await marker.bounding_box()
        assert box is not None
        screen.append((box["x"], box["y"]))
        offer = nurse.locator("#arrived-offer")
        if distance <= ARRIVAL_METRES:
            await expect(offer).to_be_visible(timeout=5_000)
            await expect(nurse.locator("#move-button-arrived")).to_have_attribute(
                "data-near", "true"
            )
        else:
            await expect(offer).to_be_hidden()
    # The marker followed every point; the distance and the estimate only shrank.
    assert distances == sorted(distances, reverse=True)
    assert distances[0] > 2000
    assert distances[-1] < ARRIVAL_METRES
    assert estimates == sorted(estimates, reverse=True)
    assert estimates[0] > estimates[-1]
    assert len(set(screen)) > 1
    distance_text = await patient.locator("#track-distance").text_content()
    assert distance_text is not None
    assert distance_text.endswith(" m away")
    await expect(patient.locator("#track-eta")).to_contain_text("about 1 min")
    await expect(nurse.locator("#my-distance")).to_have_text("You are at the address.")

    await nurse.screenshot(path=str(artifacts / "visit-tracking-nurse.png"))
    await patient.screenshot(path=str(artifacts / "visit-tracking-patient.png"))
    assert await nurse.evaluate(FITS)  # no sideways scrolling on a 390 px phone
    assert await patient.evaluate(FITS)

    await nurse.click("#move-button-arrived")
    await nurse.wait_for_url("**?done=arrived")
    await expect(patient.locator("#track-status")).to_have_text("The nurse is at the door")
    await expect(patient.locator("#track-distance")).to_have_text("At your door")
    assert errors == []


async def test_the_nurse_writes_and_submits_the_report(
    browser: Browser, tracking_server: LiveServer, settings: Settings, home_visit: HomeVisit
) -> None:
    """The report form on the phone, through the report's use cases."""
    server, visit_id = tracking_server, home_visit.visit_id
    async with browsing(browser, server, settings, home_visit.nurse) as nurse:
        errors: list[str] = []
        nurse.on("pageerror", lambda error: errors.append(str(error)))
        await nurse.goto(f"{server}/nurse/visits/{visit_id}")
        for button in ("en_route", "arrived", "in_progress"):
            await nurse.click(f"#move-button-{button}")
            await nurse.wait_for_url(f"**?done={button}")
        await nurse.click("#report-link")
        status = nurse.locator("#report-status")
        await expect(status).to_have_text("Draft.")
        await nurse.click("#add-vital")
        row = nurse.locator(".vital-row").first
        await row.locator(".vital-kind").select_option("heart_rate")
        await expect(row.locator(".vital-second")).to_be_hidden()
        await row.locator(".vital-value").fill("900")
        await nurse.click("#report-save")
        await expect(nurse.locator("#report-error")).to_be_visible()
        await row.locator(".vital-value").fill("72")
        await nurse.fill("#interventions", "Dressing changed\nWound cleaned")
        await nurse.fill("#observations", "Healing well.")
        await nurse.click("#report-save")
        await expect(status).to_have_text("Saved. Draft, version 1.")
        await expect(nurse.locator("#report-error")).to_be_hidden()
        await expect(nurse.locator("#report-submit")).to_be_disabled()  # not completed yet

        await nurse.click("#back-to-visit")
        await nurse.click("#move-button-completed")
        await nurse.wait_for_url("**?done=completed")
        await nurse.click("#report-link")
        await expect(nurse.locator(".vital-value").first).to_have_value("72")
        await expect(nurse.locator("#interventions")).to_have_value(
            "Dressing changed\nWound cleaned"
        )
        await nurse.click("#report-submit")
        await expect(status).to_contain_text("Submitted")
        await expect(nurse.locator("#observations")).to_be_disabled()
        assert await nurse.evaluate(FITS)
        assert errors == []
