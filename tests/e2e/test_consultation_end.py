"""The end of a consultation, in two browsers: the doctor writes and issues a prescription from
the appointment's page; the patient downloads its PDF (rendered by the server's worker) and
reviews the appointment; the doctor's public page shows the new rating and the review."""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect
from pypdf import PdfReader
from sqlalchemy import delete, func, select, text

from carebridge.accounts.models import Role, User
from carebridge.compliance.models import AuditEvent
from carebridge.config import Settings
from carebridge.directory.models import DoctorProfile
from carebridge.platform.db import Database
from carebridge.prescriptions.models import Prescription
from carebridge.reviews.models import Review
from carebridge.scheduling.models import Appointment
from tests.factories.live import LiveServer, new_user, signed_in


@dataclass
class Visit:
    doctor: User
    patient: User
    appointment: Appointment


@pytest.fixture
async def visit(settings: Settings) -> AsyncIterator[Visit]:
    """A verified doctor and a patient whose video consultation ended an hour ago."""
    database = Database.from_settings(settings)
    tag = uuid.uuid4().hex[:6]
    doctor = new_user(tag, Role.doctor, f"Dr. Clara Ende {tag}", "Europe/Berlin")
    patient = new_user(tag, Role.patient, "Paul Kranke", "Europe/Berlin")
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    async with database.transaction() as db:
        db.add_all([doctor, patient])
        await db.flush()
        db.add(
            DoctorProfile(
                user_id=doctor.id,
                verified_at=datetime.now(UTC),
                license_number=f"LIC-{tag}",
                bio="General practice.",
                time_zone="Europe/Berlin",
            )
        )
        appointment = Appointment(
            id=uuid.uuid4(),
            doctor_id=doctor.id,
            patient_id=patient.id,
            type="video",
            status="completed",
            starts_at=started,
            ends_at=started + timedelta(minutes=30),
            blocked_until=started + timedelta(minutes=30),
            time_zone="Europe/Berlin",
            fee=0,
            confirmed_at=started - timedelta(days=1),
            started_at=started,
            completed_at=started + timedelta(minutes=30),
        )
        db.add(appointment)
    yield Visit(doctor, patient, appointment)
    # An issued prescription is immutable by design (triggers refuse even its deletion): the
    # test's own rows go with the triggers off, which only the database's owner may do.
    owner = Database.from_settings(settings, migrating=True)
    async with owner.transaction() as db:
        await db.execute(text("SET LOCAL session_replication_role = replica"))
        written = select(Prescription.id).where(Prescription.appointment_id == appointment.id)
        await db.execute(
            text(
                "DELETE FROM prescription_lines WHERE prescription_id = ANY(CAST(:ids AS uuid[]))"
            ),
            {"ids": list(await db.scalars(written))},
        )
        await db.execute(delete(Prescription).where(Prescription.appointment_id == appointment.id))
        await db.execute(text("SET LOCAL session_replication_role = origin"))
        await db.execute(delete(Review).where(Review.appointment_id == appointment.id))
        await db.execute(delete(Appointment).where(Appointment.id == appointment.id))
        await db.execute(delete(User).where(User.id.in_([doctor.id, patient.id])))
    await owner.dispose()
    await database.dispose()


async def test_the_doctor_prescribes_the_patient_downloads_and_reviews(
    browser: Browser,
    live_server: LiveServer,
    visit: Visit,
    settings: Settings,
    artifacts: object,
) -> None:
    contexts: list[BrowserContext] = []
    errors: list[str] = []
    pages: list[Page] = []
    for user in (visit.doctor, visit.patient):
        context, page = await signed_in(browser, live_server, user)
        page.on("pageerror", lambda error: errors.append(str(error)))
        contexts.append(context)
        pages.append(page)
    doctor, patient = pages
    appointment_id = visit.appointment.id
    try:
        # The doctor writes the prescription from the appointment's page, then issues it.
        await doctor.goto(f"{live_server}/appointments/{appointment_id}")
        await doctor.click("#prescribe-link")
        await expect(doctor.locator("#new-prescription")).to_be_visible()
        await doctor.fill("textarea[name=diagnosis]", "Acute bronchitis")
        await doctor.fill("textarea[name=notes]", "Review in one week if not better.")
        for field, value in (
            ("name", "Amoxicillin"),
            ("strength", "500 mg"),
            ("dose", "1 capsule"),
            ("route", "oral"),
            ("frequency", "three times a day"),
            ("duration", "7 days"),
            ("quantity", "21"),
        ):
            await doctor.fill(f"input[name=line1_{field}]", value)
        await doctor.fill("input[name=line1_instructions]", "Take with food.")
        await doctor.fill("input[name=line2_name]", "Paracetamol")
        await doctor.fill("input[name=line2_strength]", "500 mg")
        await doctor.fill("input[name=line2_dose]", "2 tablets")
        await doctor.fill("input[name=line2_frequency]", "every 6 hours as needed")
        await doctor.screenshot(path="test-artifacts/consultation-prescribe.png", full_page=True)
        await doctor.click("#save-draft")
        await expect(doctor.locator("[role=status]")).to_contain_text("Draft saved")
        await expect(doctor.locator("#status")).to_have_text("draft")
        await expect(doctor.locator("#lines")).to_contain_text("Amoxicillin")
        await doctor.click("#issue")
        await expect(doctor.locator("#status")).to_have_text("issued")
        code = (await doctor.locator("#code").inner_text()).strip()
        assert code
        await doctor.screenshot(path="test-artifacts/consultation-issued.png", full_page=True)
        prescription_id = doctor.url.split("/prescriptions/", 1)[1].split("?", 1)[0]

        # The patient finds it in their list; its PDF is rendered by the server's worker.
        await patient.click("#nav-prescriptions")
        await patient.locator(f"#prescription-{prescription_id} a", has_text="Open").click()
        await expect(patient.locator("#diagnosis")).to_have_text("Acute bronchitis")
        download_link = patient.locator("#download")
        for _ in range(60):  # the job runs right after the issue; reload until it is done
            if await download_link.count():
                break
            await patient.wait_for_timeout(500)
            await patient.reload()
        await expect(download_link).to_be_visible()
        async with patient.expect_download() as fetching:
            await download_link.click()
        download = await fetching.value
        saved = await download.path()
        pdf = PdfReader(io.BytesIO(saved.read_bytes()))
        printed = "\n".join(page.extract_text() for page in pdf.pages)
        assert "Amoxicillin" in printed
        assert "Paracetamol" in printed
        assert code in printed
        assert "Acute bronchitis" not in printed  # the diagnosis is not printed
        await patient.screenshot(path="test-artifacts/consultation-prescription.png")

        # Anyone (a pharmacist) checks the code on the public page.
        await patient.goto(f"{live_server}/verify/{code}")
        await expect(patient.locator("#verify-result")).to_have_attribute("data-result", "valid")
        await expect(patient.locator("#verify")).to_contain_text(visit.doctor.name)
        await expect(patient.locator("#verify")).not_to_contain_text("Acute bronchitis")
        await patient.goto(f"{live_server}/verify/NOT-A-CODE-123")
        await expect(patient.locator("#verify-result")).to_have_attribute(
            "data-result", "not_found"
        )

        # The patient reviews the appointment, from its page.
        await patient.goto(f"{live_server}/appointments/{appointment_id}")
        await patient.click("#review-link")
        await patient.check("input[name=rating][value='4']")
        await patient.fill("textarea[name=comment]", "Clear advice <b>and</b> quick.")
        await patient.click("#save-review")
        await expect(patient.locator("#review-comment")).to_have_text(
            "Clear advice <b>and</b> quick."
        )
        await patient.screenshot(path="test-artifacts/consultation-review.png")

        # The doctor's public page: the new rating, and the review as plain text.
        await patient.goto(f"{live_server}/doctors/{visit.doctor.id}")
        await expect(patient.locator("main")).to_contain_text("★ 4.0 from 1 review")
        review = patient.locator("#reviews .review").first
        await expect(review.locator(".review-comment")).to_have_text(
            "Clear advice <b>and</b> quick."
        )
        await expect(review.locator(".review-rating")).to_have_attribute("aria-label", "4 out of 5")
        await patient.screenshot(path="test-artifacts/consultation-profile.png", full_page=True)
        assert errors == []
    finally:
        for context in contexts:
            await context.close()

    # The download was audited.
    database = Database.from_settings(settings)
    try:
        async with database.transaction() as db:
            downloads = await db.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == "prescription.pdf_downloaded")
                .where(AuditEvent.resource_id == prescription_id)
            )
        assert downloads == 1
    finally:
        await database.dispose()
