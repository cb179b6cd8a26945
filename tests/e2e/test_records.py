"""The health record in a phone's browser (issue 19's acceptance, in part): a patient adds
readings and sees the chart with the new point, adds a medication and marks today's dose taken,
grants their doctor access; the doctor opens the record from the appointment's page and reads
the medication list. Screenshots of both in test-artifacts/."""

from __future__ import annotations

import json
from pathlib import Path

from playwright.async_api import Page, expect

from tests.e2e.world import Browse, World
from tests.factories.live import LiveServer


async def _series(page: Page) -> dict[str, object]:
    found: dict[str, object] = json.loads(await page.locator("#series-data").text_content() or "")
    return found


async def _add(page: Page, **fields: str) -> None:
    for name, value in fields.items():
        await page.fill(f"#reading-{name}", value)
    await page.click("#reading-submit")
    await expect(page.locator(".notice")).to_have_text("Reading added.")


async def test_a_patient_charts_and_shares_the_doctor_opens_it(
    browse: Browse, world: World, live_server: LiveServer, artifacts: Path
) -> None:
    errors: list[str] = []
    async with browse(world.patient) as page:
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(f"{live_server}/records")
        await expect(page.locator("#latest-heart_rate")).to_contain_text("No reading yet")
        await page.click("#latest-heart_rate a")
        await expect(page.locator("#reading-form")).to_be_visible()
        await expect(page.locator("#no-points")).to_be_visible()

        # An impossible value is refused in words, the form kept as typed.
        await page.fill("#reading-value", "900")
        await page.click("#reading-submit")
        await expect(page.locator(".form-error")).to_contain_text("Heart rate must be between")
        await expect(page.locator("#reading-value")).to_have_value("900")

        await _add(page, value="72")
        await expect(page.locator("#record-chart canvas").first).to_be_attached()
        points = (await _series(page))["points"]
        assert isinstance(points, list)
        assert [(p["count"], p["mean"]) for p in points] == [(1, 72.0)]

        await page.goto(f"{live_server}/records/observations/blood_pressure?span=week")
        await _add(page, value="150", value2="95")
        await expect(page.locator("#record-chart canvas").first).to_be_attached()
        await expect(page.locator("#readings .flag").first).to_have_text("High")
        points = (await _series(page))["points"]
        assert isinstance(points, list)
        assert [(p["mean"], p["mean2"]) for p in points] == [(150.0, 95.0)]
        await page.screenshot(path=str(artifacts / "records-patient-chart.png"), full_page=True)

        # Sharing: the doctor of their appointments is there to pick.
        await page.goto(f"{live_server}/records/sharing")
        await page.select_option("#grant-clinician", str(world.doctor.id))
        await page.click("#grant-submit")
        await expect(page.locator(".notice")).to_contain_text("Shared")
        await expect(page.locator("#grants")).to_contain_text(world.doctor.name)
        await page.goto(f"{live_server}/records")
        await page.screenshot(path=str(artifacts / "records-patient-dashboard.png"), full_page=True)

        # Medications: one added with a time already past today, its dose marked taken.
        await page.click("#record-nav-medications")
        await expect(page.locator("#no-doses")).to_be_visible()
        await page.fill("#medication-name", "Lisinopril 10 mg")
        await page.fill("#medication-dose", "1 tablet")
        await page.fill("#medication-route", "oral")
        await page.fill("#medication-time-1", "00:00")
        await page.fill("#medication-instructions", "In the morning, with water.")
        await page.click("#medication-submit")
        await expect(page.locator(".notice")).to_have_text("Medication added.")
        await expect(page.locator("#medication-list")).to_contain_text("Every day at 00:00")
        dose = page.locator("#doses li").first
        await expect(dose).to_contain_text("Lisinopril 10 mg")
        await dose.locator(".take-button").click()
        await expect(page.locator(".notice")).to_have_text("Dose marked taken.")
        await expect(dose).to_have_attribute("data-status", "taken")
        await expect(dose.locator(".take-button")).to_have_count(0)
        await expect(page.locator("#medication-list")).to_contain_text("taken 1 of 1 doses, 100 %")
        await page.screenshot(
            path=str(artifacts / "records-patient-medications.png"), full_page=True
        )
    assert errors == []

    today = world.appointments["today"]
    async with browse(world.doctor) as page:
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(f"{live_server}/appointments/{today.id}")
        await page.click("#health-record-link")
        await expect(page.locator("h1")).to_contain_text(world.patient.name)
        await expect(page.locator("#latest-heart_rate")).to_contain_text("72")
        await expect(page.locator("#latest-blood_pressure")).to_contain_text("150/95")
        await page.click("#latest-blood_pressure a")
        await expect(page.locator("#record-chart canvas").first).to_be_attached()
        await expect(page.locator("#reading-form")).to_be_visible()  # caring for the patient
        await page.screenshot(path=str(artifacts / "records-doctor-chart.png"), full_page=True)
        await page.goto(f"{live_server}/patients/{world.patient.id}/record")
        await page.screenshot(path=str(artifacts / "records-doctor-dashboard.png"), full_page=True)
        await page.click("#record-nav-medications")
        await expect(page.locator("#medication-list")).to_contain_text("Lisinopril 10 mg")
        await expect(page.locator("#medication-form")).to_have_count(0)
    assert errors == []
