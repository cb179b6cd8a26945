"""The confirmations and reminders of a video appointment lead to its call and mention the
pre-call check (in the notification and in the email); those of other types are unchanged."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import time_machine
from sqlalchemy import select

from carebridge.accounts.models import Role
from carebridge.config import Settings
from carebridge.notifications.models import Notification
from carebridge.platform.db import Database
from carebridge.scheduling.tasks import send_due_reminders
from tests.factories import MakeUser, TokenFor, work
from tests.factories.calendar import DoctorWithSchedule, berlin, book, days_ahead
from tests.factories.notifications import SmtpSink, plain_text
from tests.factories.scheduling import schedule_body


async def _told(database: Database, appointment: str, kind: str) -> list[Notification]:
    async with database.sessionmaker() as db:
        rows = await db.scalars(
            select(Notification).where(
                Notification.kind == kind,
                Notification.data["appointment_id"].astext == appointment,
            )
        )
        return list(rows)


async def test_a_video_bookings_emails_link_to_the_call_and_the_check(
    client: httpx.AsyncClient,
    database: Database,
    doctor_with_schedule: DoctorWithSchedule,
    make_user: MakeUser,
    token_for: TokenFor,
    mail_settings: Settings,
    smtp: tuple[SmtpSink, int],
    jobs: None,
) -> None:
    sink, _ = smtp
    doctor, _ = await doctor_with_schedule("Dr Vid Eo")
    patient = await make_user(Role.patient)
    booked = await book(client, await token_for(patient), doctor.id, berlin(days_ahead(3), 10))
    assert booked.status_code == 201, booked.text
    appointment = booked.json()["id"]
    call = f"/appointments/{appointment}/call"

    told = await _told(database, appointment, "appointment_changed")
    assert {n.recipient_id for n in told} == {patient.id, doctor.id}
    for notification in told:
        assert notification.link == call
        assert "/call-check" in notification.body

    await work(mail_settings, database)
    mail = {m["To"]: plain_text(m) for m in sink.messages()}
    base = mail_settings.public_base_url
    for person in (patient, doctor):
        text = mail[person.email]
        assert f"Open in CareBridge: {base}{call}" in text
        assert f"{base}/call-check" in text


async def test_a_video_appointments_reminders_link_to_the_call_and_the_check(
    client: httpx.AsyncClient,
    database: Database,
    doctor_with_schedule: DoctorWithSchedule,
    make_user: MakeUser,
    token_for: TokenFor,
    scheduling_jobs: None,
) -> None:
    doctor, _ = await doctor_with_schedule()
    patient = await make_user(Role.patient)
    booked = await book(client, await token_for(patient), doctor.id, berlin(days_ahead(3), 10))
    assert booked.status_code == 201, booked.text
    appointment = booked.json()
    start = datetime.fromisoformat(appointment["starts_at"]).astimezone(UTC)
    with time_machine.travel(start - timedelta(minutes=59), tick=True):
        assert await send_due_reminders(database) == 2
    reminders = await _told(database, appointment["id"], "appointment_reminder")
    assert {n.recipient_id for n in reminders} == {patient.id, doctor.id}
    for reminder in reminders:
        assert reminder.link == f"/appointments/{appointment['id']}/call"
        assert "/call-check" in reminder.body


async def test_the_notices_of_a_visit_at_the_clinic_are_unchanged(
    client: httpx.AsyncClient,
    database: Database,
    doctor_with_schedule: DoctorWithSchedule,
    make_user: MakeUser,
    token_for: TokenFor,
    scheduling_jobs: None,
) -> None:
    types = schedule_body()["types"]
    doctor, _ = await doctor_with_schedule(types=types)
    patient = await make_user(Role.patient)
    at = berlin(days_ahead(3), 9)  # the first slot of the day
    booked = await client.post(
        "/api/v1/appointments",
        json={"doctor_id": str(doctor.id), "starts_at": at.isoformat(), "type": "in_person"},
        headers=await token_for(patient),
    )
    assert booked.status_code == 201, booked.text
    appointment = booked.json()["id"]
    told = await _told(database, appointment, "appointment_changed")
    assert told
    with time_machine.travel(at - timedelta(minutes=59), tick=True):
        assert await send_due_reminders(database) == 2
    told += await _told(database, appointment, "appointment_reminder")
    for notification in told:
        assert notification.link == f"/appointments/{appointment}"
        assert "call-check" not in notification.body
        assert "call_check" not in notification.data
    assert uuid.UUID(appointment)
