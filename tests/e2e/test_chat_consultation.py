"""A chat consultation in two browsers: a chat appointment starting within minutes; the doctor
starts it from its conversation and the patient's panel turns to "in progress" with the time
left, live; the doctor completes it and the patient's form to write goes, live (the messages
stay). Screenshots in test-artifacts/."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Page, expect
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import Role, User, UserStatus
from carebridge.config import Settings
from carebridge.directory.models import DoctorProfile
from carebridge.messaging.models import Conversation
from carebridge.platform.context import CallScope
from carebridge.platform.db import Database
from carebridge.scheduling import schedules, service
from carebridge.scheduling.models import Appointment, AppointmentType
from carebridge.scheduling.schemas import BookIn, ScheduleIn
from tests.e2e.world import DESKTOP, Browse, new_user
from tests.factories.live import LiveServer, clean_up
from tests.factories.messaging import ROUND_THE_CLOCK


@dataclass
class Consultation:
    doctor: User
    patient: User
    conversation_id: uuid.UUID


def _actor(user: User) -> Actor:
    return Actor(user.id, user.role, UserStatus.active, uuid.uuid4())


@pytest.fixture
async def consultation(settings: Settings) -> AsyncIterator[Consultation]:
    """A doctor offering 5-minute chats around the clock and a patient who booked the next one
    (it starts within minutes: the doctor may start it now), committed for the live server."""
    database = Database.from_settings(settings)
    tag = uuid.uuid4().hex[:6]
    doctor = new_user(tag, Role.doctor, f"Dr. Cora Chat{tag}", "Etc/UTC")
    patient = new_user(tag, Role.patient, f"Pia Chatpatient{tag}", "Etc/UTC")
    now = datetime.now(UTC)
    async with database.transaction() as db:
        db.add_all([doctor, patient])
        await db.flush()
        db.add(DoctorProfile(user_id=doctor.id, verified_at=now, bio="Chats.", time_zone="UTC"))
        schedule = ScheduleIn.model_validate(ROUND_THE_CLOCK)
        await schedules.put_schedule(db, _actor(doctor), schedule)
        free = await schedules.open_slots(
            db, doctor.id, now, now + timedelta(hours=1), AppointmentType.chat
        )
        body = BookIn(doctor_id=doctor.id, starts_at=free.slots[0].starts_at, type="chat")
        scope = CallScope.system(settings)
        booked = await service.book(db, scope, _actor(patient), body, idempotency_key=None)
        conversation_id = await db.scalar(
            select(Conversation.id).where(Conversation.appointment_id == booked.appointment.id)
        )
    assert conversation_id is not None
    yield Consultation(doctor, patient, conversation_id)

    async def remove(db: AsyncSession) -> None:
        await db.execute(delete(Appointment).where(Appointment.doctor_id == doctor.id))
        await db.execute(delete(User).where(User.id.in_([doctor.id, patient.id])))

    await clean_up(database, remove)
    await database.dispose()


async def _opened(page: Page, url: str, errors: list[str]) -> None:
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(url)
    await expect(page.locator("#live-state")).to_have_text("Live", timeout=10_000)


async def test_the_doctor_starts_and_completes_while_the_patient_watches(
    consultation: Consultation, browse: Browse, live_server: LiveServer, artifacts: Path
) -> None:
    url = f"{live_server}/conversations/{consultation.conversation_id}"
    errors: list[str] = []
    async with (
        browse(consultation.patient) as patient,
        browse(consultation.doctor, DESKTOP) as doctor,
    ):
        await _opened(patient, url, errors)
        status = patient.locator("#session-status")
        await expect(status).to_have_text("Waiting for the doctor to start")
        await _opened(doctor, url, errors)

        await doctor.click("#start-consultation")
        await expect(doctor.locator("#complete-consultation")).to_be_visible()
        await expect(status).to_contain_text("In progress", timeout=10_000)
        await expect(patient.locator("#time-left")).to_have_text(re.compile(r"^\d+ min left$"))
        await patient.fill("#message-form textarea", "I am here")
        await patient.click("#send-message")
        await expect(doctor.locator("#messages li .message-text")).to_have_text(
            "I am here", timeout=10_000
        )
        await expect(patient.locator("#live-state")).to_have_text("Live", timeout=10_000)
        await patient.screenshot(path=str(artifacts / "chat-consultation-patient.png"))

        await doctor.click("#complete-consultation")
        await expect(patient.locator("#message-form")).to_have_count(0, timeout=10_000)
        await expect(patient.locator("#read-only")).to_be_visible()
        # The header says it at once, as a reload would, in the patient's time zone.
        await expect(patient.locator("#conversation-closed")).to_have_text(
            re.compile(r"^closed \w{3} \d{2} \w{3} \d{4}, \d{2}:\d{2} \S+$")
        )
        await expect(status).to_have_text("Completed")
        await expect(patient.locator("#messages li .message-text")).to_have_text("I am here")
        await expect(doctor.locator("#session-status")).to_have_text("Completed")
        await doctor.screenshot(path=str(artifacts / "chat-consultation-doctor.png"))
        await patient.screenshot(path=str(artifacts / "chat-consultation-closed.png"))
    assert errors == []
