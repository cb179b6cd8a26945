"""Two people, two browsers: a doctor goes online and the patient's home shows it without a
reload; the patient followed the doctor, so the bell shows the notification too."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from carebridge.accounts.models import User
from tests.factories.live import LiveServer, signed_in


async def test_doctor_online_appears_live_and_followers_are_told(
    browser: Browser,
    live_server: LiveServer,
    doctor_and_patient: tuple[User, User],
    artifacts: object,
) -> None:
    doctor, patient = doctor_and_patient
    patient_context, patient_page = await signed_in(browser, live_server, patient)
    doctor_context, doctor_page = await signed_in(browser, live_server, doctor)
    errors: list[str] = []
    patient_page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        await patient_page.goto(f"{live_server}/doctors/{doctor.id}")
        await patient_page.click("#follow")
        await expect(patient_page.locator("#unfollow")).to_be_visible()

        await patient_page.goto(live_server + "/home")
        await expect(patient_page.locator("#live-state")).to_have_text("Live", timeout=10_000)
        entry = patient_page.locator(f'#online-doctors li[data-doctor-id="{doctor.id}"]')
        await expect(entry).to_have_count(0)
        await expect(patient_page.locator("#bell-count")).to_have_text("")

        await doctor_page.goto(live_server + "/home")
        await doctor_page.click("#go-online")
        await expect(doctor_page.locator("#my-status")).to_have_text("Online now")

        # No reload on the patient's side: the socket brought both changes.
        await expect(entry).to_have_count(1, timeout=5_000)
        await expect(entry).to_contain_text(doctor.name)
        await expect(entry.locator(".presence-badge")).to_have_text("Online now")
        await expect(patient_page.locator("#bell-count")).to_have_text("1", timeout=5_000)

        await doctor_page.click("#go-busy")
        await expect(entry.locator(".presence-badge")).to_have_text("In a consultation")
        await doctor_page.click("#go-offline")
        await expect(entry).to_have_count(0, timeout=5_000)
        await patient_page.screenshot(path="test-artifacts/patient-home-live.png")
        assert errors == []
    finally:
        await patient_context.close()
        await doctor_context.close()
