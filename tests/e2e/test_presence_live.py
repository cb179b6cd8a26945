"""Two people, two browsers: a doctor goes online and the patient's home shows it without a
reload; the patient followed the doctor, so the bell shows the notification too."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.models import Role, User, UserStatus
from carebridge.config import Settings
from carebridge.directory.models import DoctorProfile
from carebridge.platform.db import Database
from tests.e2e.conftest import LiveServer, clean_up
from tests.factories import _HASH, PASSWORD


@pytest.fixture
async def doctor_and_patient(settings: Settings) -> AsyncIterator[tuple[User, User]]:
    database = Database.from_settings(settings)
    now = datetime.now(UTC)
    tag = uuid.uuid4().hex[:6]
    async with database.transaction() as db:
        doctor = User(
            email=f"dr-live-{tag}@example.org",
            name=f"Dr. Live {tag}",
            role=Role.doctor,
            status=UserStatus.active,
            password_hash=_HASH,
            approved_at=now,
        )
        patient = User(
            email=f"pt-live-{tag}@example.org",
            name="Pat Live",
            role=Role.patient,
            status=UserStatus.active,
            password_hash=_HASH,
        )
        db.add_all([doctor, patient])
        await db.flush()
        db.add(DoctorProfile(user_id=doctor.id, verified_at=now, bio="Family doctor."))
    yield doctor, patient

    async def remove(db: AsyncSession) -> None:
        await db.execute(delete(User).where(User.id.in_([doctor.id, patient.id])))

    await clean_up(database, remove)
    await database.dispose()


async def signed_in(browser: Browser, server: str, user: User) -> tuple[BrowserContext, Page]:
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(server + "/signin")
    await page.fill("input[name=email]", user.email)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("#signin-submit")
    await page.wait_for_url("**/home")
    return context, page


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
