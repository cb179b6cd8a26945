"""Who is told of each change of an appointment, with what: both people, by their channels.

The patient is told of everything that happens to their appointment, their own booking, move and
cancellation included (a receipt); the doctor of what others do to an appointment that holds
their time; nobody of the moves they made themselves on screen."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import time_machine
from sqlalchemy import select, update

from carebridge.accounts.models import Role, User
from carebridge.app import create_app
from carebridge.config import Settings
from carebridge.notifications.models import Notification
from carebridge.platform.db import Database
from carebridge.platform.times import local_time
from carebridge.scheduling import moves
from tests.factories import MakeUser, TokenFor, work
from tests.factories.calendar import (
    DoctorWithSchedule,
    berlin,
    book,
    days_ahead,
    lifespan_client,
    schedule,
)
from tests.factories.directory import MakeDoctor
from tests.factories.notifications import SmtpSink, plain_text
from tests.factories.payments import online_settings


async def _patient(make_user: MakeUser, database: Database, zone: str = "UTC") -> User:
    patient = await make_user(Role.patient)
    async with database.transaction() as db:
        await db.execute(update(User).where(User.id == patient.id).values(time_zone=zone))
    patient.time_zone = zone
    return patient


def _mail(sink: SmtpSink, since: int) -> dict[tuple[str, str], str]:
    """The emails received since the ``since``-th: (to, subject) -> text."""
    return {(m["To"], m["Subject"]): plain_text(m) for m in sink.messages()[since:]}


async def test_both_people_are_emailed_about_booking_moving_and_cancelling(
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
    doctor, _ = await doctor_with_schedule("Dr Ada Quill")
    patient = await _patient(make_user, database, "America/New_York")
    headers = await token_for(patient)
    first, second = berlin(days_ahead(3), 10), berlin(days_ahead(3), 11)

    booked = await book(client, headers, doctor.id, first)
    assert booked.status_code == 201, booked.text
    appointment = booked.json()["id"]
    await work(mail_settings, database)
    mail = _mail(sink, 0)
    assert set(mail) == {
        (patient.email, "Appointment booked"),
        (doctor.email, "New appointment"),
    }
    when = local_time(first, "America/New_York")  # the patient's own clock
    assert (
        f"You booked a video call with Dr Ada Quill on {when}."
        in mail[(patient.email, "Appointment booked")]
    )
    assert f"{patient.name} booked a video call with you" in mail[(doctor.email, "New appointment")]

    moved = await client.post(
        f"/api/v1/appointments/{appointment}/reschedule",
        json={"starts_at": second.isoformat()},
        headers=headers,
    )
    assert moved.status_code == 200, moved.text
    await work(mail_settings, database)
    mail = _mail(sink, 2)
    assert set(mail) == {(patient.email, "Appointment moved"), (doctor.email, "Appointment moved")}
    new, old = local_time(second, "America/New_York"), local_time(first, "America/New_York")
    assert (
        f"You moved your video call with Dr Ada Quill to {new} (it was {old})."
        in mail[(patient.email, "Appointment moved")]
    )
    assert f"{patient.name} moved your video call to" in mail[(doctor.email, "Appointment moved")]

    cancelled = await client.post(
        f"/api/v1/appointments/{appointment}/cancel",
        json={"reason": "Feeling better, my rash is gone"},
        headers=headers,
    )
    assert cancelled.status_code == 200, cancelled.text
    await work(mail_settings, database)
    mail = _mail(sink, 4)
    assert set(mail) == {
        (patient.email, "Appointment cancelled"),
        (doctor.email, "Appointment cancelled"),
    }
    assert (
        f"You cancelled your video call with Dr Ada Quill on {new}."
        in mail[(patient.email, "Appointment cancelled")]
    )
    to_doctor = mail[(doctor.email, "Appointment cancelled")]
    assert f"{patient.name} cancelled your video call on" in to_doctor
    assert "rash" not in to_doctor  # a patient's own reason stays out of messages
    assert len(sink.received) == 6


async def _told(database: Database, user: User, appointment: str) -> list[tuple[str, str]]:
    """(title, body) of what ``user`` was told about ``appointment``."""
    async with database.sessionmaker() as db:
        rows = await db.execute(
            select(Notification.title, Notification.body).where(
                Notification.recipient_id == user.id,
                Notification.kind == "appointment_changed",
                Notification.data["appointment_id"].astext == appointment,
            )
        )
        return [(row.title, row.body) for row in rows]


def _titles(told: list[tuple[str, str]]) -> Counter[str]:
    return Counter(title for title, _ in told)


async def test_cancelled_by_the_doctor_or_the_clinic_the_reason_is_given(
    client: httpx.AsyncClient,
    database: Database,
    doctor_with_schedule: DoctorWithSchedule,
    make_user: MakeUser,
    token_for: TokenFor,
) -> None:
    doctor, doctor_headers = await doctor_with_schedule("Dr Ada Quill")
    patient = await _patient(make_user, database)
    admin = await make_user(Role.admin)
    headers = await token_for(patient)
    one = (await book(client, headers, doctor.id, berlin(days_ahead(3), 10))).json()["id"]
    two = (await book(client, headers, doctor.id, berlin(days_ahead(3), 11))).json()["id"]

    by_doctor = await client.post(
        f"/api/v1/appointments/{one}/cancel", json={"reason": "Unwell"}, headers=doctor_headers
    )
    assert by_doctor.status_code == 200, by_doctor.text
    (cancelled,) = [b for t, b in await _told(database, patient, one) if "cancelled" in t]
    assert cancelled.startswith("Dr Ada Quill cancelled your video call on ")
    assert cancelled.endswith(" Reason: Unwell")
    # The doctor was told of the booking, not of their own cancellation.
    assert _titles(await _told(database, doctor, one)) == Counter({"New appointment": 1})

    by_admin = await client.post(
        f"/api/v1/appointments/{two}/cancel",
        json={"reason": "The clinic is closed that day"},
        headers=await token_for(admin),
    )
    assert by_admin.status_code == 200, by_admin.text
    for person in (patient, doctor):
        (cancelled,) = [b for t, b in await _told(database, person, two) if "cancelled" in t]
        assert cancelled.startswith("The clinic cancelled your video call with ")
        assert cancelled.endswith(" Reason: The clinic is closed that day")


async def test_the_start_is_told_to_the_patient_not_to_the_doctor_who_started_it(
    client: httpx.AsyncClient,
    database: Database,
    doctor_with_schedule: DoctorWithSchedule,
    make_user: MakeUser,
    token_for: TokenFor,
) -> None:
    doctor, _ = await doctor_with_schedule("Dr Ada Quill")
    patient = await _patient(make_user, database)
    booked = await book(client, await token_for(patient), doctor.id, berlin(days_ahead(2), 10))
    appointment = booked.json()["id"]
    with time_machine.travel(berlin(days_ahead(2), 10) - timedelta(minutes=5), tick=True):
        doctor_headers = await token_for(doctor)
        for move in ("start", "complete"):
            answer = await client.post(
                f"/api/v1/appointments/{appointment}/{move}", headers=doctor_headers
            )
            assert answer.status_code == 200, answer.text
    assert _titles(await _told(database, patient, appointment)) == Counter(
        {"Appointment booked": 1, "Your appointment is starting": 1, "Appointment completed": 1}
    )
    assert _titles(await _told(database, doctor, appointment)) == Counter({"New appointment": 1})
    async with database.sessionmaker() as db:
        priority = await db.scalar(
            select(Notification.priority).where(
                Notification.recipient_id == patient.id,
                Notification.title == "Your appointment is starting",
            )
        )
    assert priority == "urgent"  # not held back by quiet hours: it is happening now


async def _held(
    client: httpx.AsyncClient,
    database: Database,
    make_doctor: MakeDoctor,
    make_user: MakeUser,
    token_for: TokenFor,
) -> tuple[User, User, dict[str, Any]]:
    """(doctor, patient, the booking): an unpaid hold, as online payment books (``client`` of an
    app with online payment)."""
    doctor = await make_doctor("Dr Ada Quill", fee=5000)
    put = await client.put(
        "/api/v1/doctors/me/schedule", json=schedule(), headers=await token_for(doctor)
    )
    assert put.status_code == 200, put.text
    patient = await _patient(make_user, database)
    booked = await book(client, await token_for(patient), doctor.id, berlin(days_ahead(3), 9))
    assert booked.json()["status"] == "pending_payment", booked.text
    return doctor, patient, booked.json()


async def test_an_unpaid_hold_is_told_to_the_patient_and_the_doctor_hears_once_paid(
    settings: Settings,
    database: Database,
    make_doctor: MakeDoctor,
    make_user: MakeUser,
    token_for: TokenFor,
) -> None:
    async with lifespan_client(create_app(online_settings(settings), database=database)) as client:
        doctor, patient, booked = await _held(client, database, make_doctor, make_user, token_for)
        appointment = booked["id"]
        (held,) = await _told(database, patient, appointment)
        assert held[0] == "Appointment held: pay to confirm"
        until = local_time(datetime.fromisoformat(booked["hold_expires_at"]), "UTC")
        assert f"It is held for you until {until}: pay by then" in held[1]
        assert await _told(database, doctor, appointment) == []  # a hold may lapse in minutes

        async with database.transaction() as db:
            assert await moves.mark_paid(db, uuid.UUID(appointment)) is not None
        assert _titles(await _told(database, patient, appointment)) == Counter(
            {"Appointment held: pay to confirm": 1, "Appointment paid and booked": 1}
        )
        (news,) = await _told(database, doctor, appointment)
        assert news[0] == "New appointment"
        assert f"{patient.name} booked a video call with you on " in news[1]


async def test_a_released_hold_is_told_to_its_patient_with_the_reason(
    settings: Settings,
    database: Database,
    make_doctor: MakeDoctor,
    make_user: MakeUser,
    token_for: TokenFor,
) -> None:
    async with lifespan_client(create_app(online_settings(settings), database=database)) as client:
        doctor, patient, booked = await _held(client, database, make_doctor, make_user, token_for)
        appointment = booked["id"]
        async with database.transaction() as db:
            await moves.release_unpaid(db, uuid.UUID(appointment), "payment failed")
        released = [b for t, b in await _told(database, patient, appointment) if "released" in t]
        assert released == [
            "Your hold on the video call with Dr Ada Quill on "
            f"{local_time(berlin(days_ahead(3), 9).astimezone(UTC), 'UTC')} was released: the "
            "payment did not go through."
        ]
        assert await _told(database, doctor, appointment) == []
