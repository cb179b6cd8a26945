"""Three people, three browsers: two patients open the same doctor's slot list and pick the same
time; the first books it, the second is told it was just taken and sees the list as it is now;
the doctor finds the appointment on the calendar, where it says when it can be started (not
before a few minutes ahead of its time)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect
from sqlalchemy import delete, select

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import Role, User, UserStatus
from carebridge.config import Settings
from carebridge.directory.models import DoctorProfile
from carebridge.payments.models import Payment
from carebridge.platform.db import Database
from carebridge.scheduling import schedules
from carebridge.scheduling.models import Appointment
from carebridge.scheduling.schemas import ScheduleIn
from tests.factories.live import LiveServer, new_user, signed_in


@dataclass
class People:
    doctor: User
    first: User
    second: User


@pytest.fixture
async def people(settings: Settings) -> AsyncIterator[People]:
    """A doctor in Berlin open every day (bookable at once), two patients in New York."""
    database = Database.from_settings(settings)
    tag = uuid.uuid4().hex[:6]
    doctor = new_user(tag, Role.doctor, f"Dr. Booking {tag}", "Europe/Berlin")
    first = new_user(tag, Role.patient, "Ada First", "America/New_York")
    second = new_user(tag, Role.patient, "Ben Second", "America/New_York")
    async with database.transaction() as db:
        db.add_all([doctor, first, second])
        await db.flush()
        db.add(
            DoctorProfile(
                user_id=doctor.id,
                verified_at=datetime.now(UTC),
                bio="Family doctor.",
                time_zone="Europe/Berlin",
            )
        )
        schedule = ScheduleIn.model_validate(
            {
                "time_zone": "Europe/Berlin",
                "min_notice_minutes": 0,
                "windows": [{"weekday": d, "starts": "00:00", "ends": "23:30"} for d in range(7)],
                "types": [
                    {"type": "video", "duration_minutes": 30},
                    {"type": "in_person", "duration_minutes": 45, "buffer_minutes": 15},
                ],
            }
        )
        actor = Actor(doctor.id, Role.doctor, UserStatus.active, uuid.uuid4())
        await schedules.put_schedule(db, actor, schedule)
    yield People(doctor, first, second)
    async with database.transaction() as db:
        booked = select(Appointment.id).where(Appointment.doctor_id == doctor.id)
        await db.execute(delete(Payment).where(Payment.appointment_id.in_(booked)))
        await db.execute(delete(Appointment).where(Appointment.doctor_id == doctor.id))
        await db.execute(delete(User).where(User.id.in_([doctor.id, first.id, second.id])))
    await database.dispose()


async def open_slots(page: Page, server: str, doctor: User) -> None:
    await page.goto(f"{server}/doctors/{doctor.id}")
    await page.click("#book")
    await expect(page.locator("h1")).to_have_text("Book an appointment")
    await expect(page.locator("#zone")).to_have_text("America/New_York")


async def test_two_patients_race_for_one_slot_and_the_doctor_sees_the_winner(
    browser: Browser, live_server: LiveServer, people: People, artifacts: object
) -> None:
    contexts: list[BrowserContext] = []
    errors: list[str] = []
    pages: list[Page] = []
    for user in (people.first, people.second, people.doctor):
        context, page = await signed_in(browser, live_server, user)
        page.on("pageerror", lambda error: errors.append(str(error)))
        contexts.append(context)
        pages.append(page)
    first, second, doctor = pages
    try:
        # Both patients have the same list open and pick the same time, two days ahead: past
        # the 24-hour cutoff, so the patient may still move it, and too far ahead to be started.
        await open_slots(first, live_server, people.doctor)
        await open_slots(second, live_server, people.doctor)
        await first.screenshot(path="test-artifacts/booking-slots.png", full_page=True)
        listed = await first.locator("a.slot").evaluate_all("slots => slots.map(s => s.dataset.at)")
        later = datetime.now(UTC) + timedelta(days=2)
        taken_at = next(at for at in listed if datetime.fromisoformat(at) > later)
        slot = first.locator(f'a.slot[data-at="{taken_at}"]')
        await slot.click()
        await second.locator(f'a.slot[data-at="{taken_at}"]').click()
        await expect(second.locator("#confirm-booking")).to_be_visible()

        await first.fill("textarea[name=reason]", "Sore throat since Monday")
        await first.click("#confirm-booking")
        await expect(first.locator("[role=status]")).to_contain_text("Booked.")
        await expect(first.locator("#status")).to_have_text("scheduled")
        await expect(first.locator("#reason")).to_have_text("Sore throat since Monday")
        await first.screenshot(path="test-artifacts/booking-booked.png", full_page=True)
        appointment_id = first.url.split("/appointments/", 1)[1].split("?", 1)[0]

        # The second patient confirms a moment too late.
        await second.click("#confirm-booking")
        alert = second.locator("[role=alert]")
        await expect(alert).to_contain_text("just taken")
        await expect(second.locator("h1")).to_have_text("Book an appointment")
        await expect(second.locator(f'a.slot[data-at="{taken_at}"]')).to_have_count(0)
        assert await second.locator("a.slot").count() > 0
        await second.screenshot(path="test-artifacts/booking-taken.png", full_page=True)

        # The first patient's list has it, ready to move or cancel.
        await first.goto(f"{live_server}/appointments")
        await expect(first.locator(f"#appointment-{appointment_id}")).to_be_visible()
        await first.screenshot(path="test-artifacts/booking-appointments.png", full_page=True)
        await first.locator(f"#appointment-{appointment_id} [data-action=reschedule]").click()
        await expect(first.locator("h1")).to_have_text("Move your appointment")
        await first.screenshot(path="test-artifacts/booking-reschedule.png")

        # The doctor's calendar has it, under the patient's name, with no Start button yet: it
        # says when the consultation can start (10 minutes before its time).
        await doctor.goto(f"{live_server}/home")
        await doctor.click("#open-calendar")
        entry = doctor.locator(f"#appointment-{appointment_id}")
        await expect(entry).to_contain_text(people.first.name)
        await expect(entry).to_contain_text("Video call")
        await expect(entry.locator(".status")).to_have_text("scheduled")
        await expect(doctor.locator("#zone")).to_have_text("Europe/Berlin")
        await doctor.screenshot(path="test-artifacts/booking-calendar.png", full_page=True)
        await expect(entry.locator("[data-move=start]")).to_have_count(0)
        await expect(entry.locator("[data-opens=start]")).to_contain_text("Start from")

        await doctor.goto(f"{live_server}/doctor/schedule")
        await doctor.click("#add-window")
        await expect(doctor.locator("#windows tr")).to_have_count(9)
        await doctor.screenshot(path="test-artifacts/booking-schedule.png", full_page=True)
        # A window that ends before it starts: said next to the form, nothing saved.
        added = doctor.locator("#windows tr").last
        await added.locator("input[name=window_starts]").fill("12:00")
        await added.locator("input[name=window_ends]").fill("09:00")
        await doctor.click("#save-schedule")
        await expect(doctor.locator("#schedule-error")).to_contain_text("ends after it starts")
        await expect(doctor.locator("#windows tr[aria-invalid=true]")).to_have_count(1)
        await doctor.screenshot(path="test-artifacts/booking-schedule-error.png")
        assert errors == []
    finally:
        for context in contexts:
            await context.close()
