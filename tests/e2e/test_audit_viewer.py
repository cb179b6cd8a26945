"""The audit viewer in Chromium: an administrator filters the trail by a patient (the subject),
downloads the search as CSV and acknowledges a security alert; the patient sees on "Who saw my
data" the doctor who read their record. Screenshots go to test-artifacts/."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.models import Role, User
from carebridge.compliance.alert_models import SecurityAlert
from carebridge.compliance.models import AuditEvent
from carebridge.config import Settings
from carebridge.platform.db import Database
from tests.factories.live import LiveServer, clean_up, new_user, signed_in


@dataclass
class Watched:
    admin: User
    patient: User
    doctor: User
    alert: SecurityAlert


@pytest.fixture
async def watched(settings: Settings) -> AsyncIterator[Watched]:
    """A doctor's three reads of a patient's record, and the alert of an emergency opening."""
    database = Database.from_settings(settings)
    tag = uuid.uuid4().hex[:6]
    admin = new_user(tag, Role.admin, "Ada Admin", "UTC")
    patient = new_user(tag, Role.patient, "Pia Patient", "UTC")
    doctor = new_user(tag, Role.doctor, "Dora Doctor", "UTC")
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    async with database.transaction() as db:
        db.add_all([admin, patient, doctor])
        await db.flush()
        db.add_all(
            AuditEvent(
                actor_id=doctor.id,
                actor_role="doctor",
                action="record.read",
                resource_type="patient_record",
                resource_id=str(patient.id),
                subject_id=patient.id,
                outcome="success",
                details={"basis": "emergency", "section": section},
            )
            for section in ("observations", "medications", "allergies")
        )
        alert = SecurityAlert(
            rule="break_the_glass",
            severity="high",
            scope_key=f"{doctor.id}:{patient.id}",
            actor_id=doctor.id,
            subject_id=patient.id,
            window_start=hour,
            window_end=hour + timedelta(hours=1),
            details={"emergency_access_id": str(uuid.uuid4())},
        )
        db.add(alert)
    yield Watched(admin, patient, doctor, alert)

    async def remove(db: AsyncSession) -> None:
        await db.execute(delete(SecurityAlert).where(SecurityAlert.id == alert.id))
        await db.execute(delete(User).where(User.id.in_([admin.id, patient.id, doctor.id])))

    await clean_up(database, remove)
    await database.dispose()


async def test_an_admin_filters_exports_and_acknowledges(
    browser: Browser, live_server: LiveServer, watched: Watched, artifacts: Path
) -> None:
    context, page = await signed_in(browser, live_server, watched.admin)
    await page.set_viewport_size({"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        await page.click("#nav-audit")
        await page.fill("#audit-subject", watched.patient.email)
        await page.click("#audit-submit")
        rows = page.locator("#audit-events tbody tr")
        await expect(rows).to_have_count(3)
        await expect(rows.first).to_contain_text("record.read")
        await expect(rows.first).to_contain_text(watched.doctor.email)
        await page.screenshot(path=str(artifacts / "admin-audit-subject.png"), full_page=True)
        async with page.expect_download() as waiting:
            await page.click("#audit-csv")
        download = await waiting.value
        text = Path(await download.path()).read_text(encoding="utf-8")
        exported = list(csv.DictReader(io.StringIO(text)))
        assert [row["subject_id"] for row in exported] == [str(watched.patient.id)] * 3
        assert {row["action"] for row in exported} == {"record.read"}

        await page.click("#nav-security-alerts")
        await expect(page.locator("h1")).to_have_text("Security alerts")
        row = page.locator(f"#alert-{watched.alert.id}")
        await expect(row).to_contain_text("Emergency opening of a record")
        await expect(row).to_contain_text(watched.doctor.email)
        await page.screenshot(path=str(artifacts / "admin-security-alerts.png"), full_page=True)
        await row.get_by_role("button", name="Acknowledge").click()
        await expect(row).to_contain_text("acknowledged")
        await page.select_option("#alert-state", "open")
        await page.click("#alert-filter")
        await expect(page.locator(f"#alert-{watched.alert.id}")).to_have_count(0)
        assert errors == []
    finally:
        await context.close()


async def test_a_patient_sees_who_saw_their_data(
    browser: Browser, live_server: LiveServer, watched: Watched, artifacts: Path
) -> None:
    context, page = await signed_in(browser, live_server, watched.patient)
    try:
        await page.goto(live_server + "/account")
        await page.click("#account-access-log")
        await expect(page.locator("h1")).to_have_text("Who saw my data")
        entries = page.locator("#my-access-log li")
        await expect(entries).to_have_count(3)
        await expect(entries.first).to_contain_text("Dora Doctor")
        await expect(entries.first).to_contain_text("emergency access")
        await page.screenshot(path=str(artifacts / "patient-who-saw-my-data.png"), full_page=True)
    finally:
        await context.close()
