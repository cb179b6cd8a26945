"""Reminders before appointments and the sweep of unpaid holds, with the clock moved."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import time_machine
from sqlalchemy import delete, func, select, update

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import Role, User, UserStatus
from carebridge.app import create_app
from carebridge.config import Settings
from carebridge.notifications.models import Notification
from carebridge.platform.context import CallScope
from carebridge.platform.db import Database
from carebridge.platform.times import local_time
from carebridge.scheduling.lifecycle import reschedule
from carebridge.scheduling.models import Appointment, Reminder
from carebridge.scheduling.notices import CALL_CHECK_WORDS
from carebridge.scheduling.tasks import (
    release_lapsed_holds,
    release_lapsed_holds_task,
    send_due_reminders,
    send_reminders_task,
)
from tests.factories import Headers, MakeUser, TokenFor, work
from tests.factories.calendar import (
    DoctorWithSchedule,
    berlin,
    book,
    count_of_kind,
    days_ahead,
    lifespan_client,
    reminders_of,
    schedule,
)
from tests.factories.payments import online_settings

# Fixtures of this module (bound here, not imported, so that parameters may take their names).

DAY = timedelta(days=1)


async def set_zone(database: Database, user: User, zone: str) -> None:
    async with database.transaction() as db:
        await db.execute(update(User).where(User.id == user.id).values(time_zone=zone))
    user.time_zone = zone


async def booked(
    client: httpx.AsyncClient,
    doctor_with_schedule: DoctorWithSchedule,
    make_user: MakeUser,
    token_for: TokenFor,
    *,
    days: int = 3,
) -> tuple[User, User, Headers, dict[str, Any]]:
    """(doctor, patient, the patient's headers, the appointment) at 10:00 Berlin in ``days``."""
    doctor, _ = await doctor_with_schedule()
    patient = await make_user(Role.patient)
    headers = await token_for(patient)
    answer = await book(client, headers, doctor.id, berlin(days_ahead(days), 10), reason="rash")
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "scheduled"
    return doctor, patient, headers, answer.json()


def starts(appointment: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(appointment["starts_at"]).astimezone(UTC)


class TestReminders:
    async def test_each_reminder_is_sent_once_and_the_next_only_when_due(
        self,
        client: httpx.AsyncClient,
        database: Database,
        settings: Settings,
        doctor_with_schedule: DoctorWithSchedule,
        make_user: MakeUser,
        token_for: TokenFor,
        scheduling_jobs: None,
    ) -> None:
        doctor, patient, _, appointment = await booked(
            client, doctor_with_schedule, make_user, token_for
        )
        start = starts(appointment)
        # Nothing is due yet.
        assert await send_due_reminders(database) == 0

        with time_machine.travel(start - DAY + timedelta(minutes=1), tick=True):
            assert await send_due_reminders(database) == 2  # patient and doctor
            assert await send_due_reminders(database) == 0  # run again: nothing more
            # The periodic job run by a worker, then by a restarted worker: nothing more.
            for _ in range(2):
                await send_reminders_task.defer_async(timestamp=int(time.time()))
                await work(settings, database, "scheduling")
            for person in (patient, doctor):
                sent = await reminders_of(database, person.id)
                assert [n.title for n in sent] == ["Appointment in 24 hours"]

        with time_machine.travel(start - timedelta(hours=2), tick=True):
            assert await send_due_reminders(database) == 0  # the 1-hour one is not due yet

        with time_machine.travel(start - timedelta(minutes=59), tick=True):
            assert await send_due_reminders(database) == 2
            assert await send_due_reminders(database) == 0
        for person in (patient, doctor):
            titles = sorted(n.title for n in await reminders_of(database, person.id))
            assert titles == ["Appointment in 1 hour", "Appointment in 24 hours"]
        async with database.sessionmaker() as db:
            unsent = await db.scalar(
                select(func.count())
                .select_from(Reminder)
                .where(
                    Reminder.appointment_id == uuid.UUID(appointment["id"]),
                    Reminder.sent_at.is_(None),
                )
            )
        assert unsent == 0

    async def test_the_text_names_the_other_person_the_type_and_local_time(
        self,
        client: httpx.AsyncClient,
        database: Database,
        doctor_with_schedule: DoctorWithSchedule,
        make_user: MakeUser,
        token_for: TokenFor,
        scheduling_jobs: None,
    ) -> None:
        doctor, patient, _, appointment = await booked(
            client, doctor_with_schedule, make_user, token_for
        )
        await set_zone(database, patient, "America/New_York")
        await set_zone(database, doctor, "Asia/Tokyo")
        start = starts(appointment)
        with time_machine.travel(start - DAY + timedelta(seconds=30), tick=True):
            assert await send_due_reminders(database) == 2
        [to_patient] = await reminders_of(database, patient.id)
        [to_doctor] = await reminders_of(database, doctor.id)
        # A video call's reminder also mentions the pre-call check (test_call_notices.py).
        assert to_patient.body == (
            f"Your video call with {doctor.name} is in 24 hours: "
            f"{local_time(start, 'America/New_York')}. {CALL_CHECK_WORDS}"
        )
        assert to_doctor.body == (
            f"Your video call with {patient.name} is in 24 hours: "
            f"{local_time(start, 'Asia/Tokyo')}. {CALL_CHECK_WORDS}"
        )
        assert "EDT" in to_patient.body or "EST" in to_patient.body
        assert "JST" in to_doctor.body
        assert "rash" not in to_patient.body + to_doctor.body  # the reason is health data
        assert to_patient.data["appointment_id"] == appointment["id"]
        assert to_patient.link == f"/appointments/{appointment['id']}/call"

    async def test_a_cancelled_appointments_reminders_are_not_sent(
        self,
        client: httpx.AsyncClient,
        database: Database,
        doctor_with_schedule: DoctorWithSchedule,
        make_user: MakeUser,
        token_for: TokenFor,
        scheduling_jobs: None,
    ) -> None:
        doctor, patient, headers, appointment = await booked(
            client, doctor_with_schedule, make_user, token_for
        )
        cancelled = await client.post(
            f"/api/v1/appointments/{appointment['id']}/cancel", json={}, headers=headers
        )
        assert cancelled.status_code == 200, cancelled.text
        start = starts(appointment)
        for moment in (start - DAY + timedelta(minutes=1), start - timedelta(minutes=59)):
            with time_machine.travel(moment, tick=True):
                assert await send_due_reminders(database) == 0
        assert await reminders_of(database, patient.id) == []
        assert await reminders_of(database, doctor.id) == []

    async def test_a_reminder_found_after_the_start_is_skipped_not_sent_late(
        self,
        client: httpx.AsyncClient,
        database: Database,
        doctor_with_schedule: DoctorWithSchedule,
        make_user: MakeUser,
        token_for: TokenFor,
        scheduling_jobs: None,
    ) -> None:
        _, patient, _, appointment = await booked(
            client, doctor_with_schedule, make_user, token_for
        )
        with time_machine.travel(starts(appointment) + timedelta(minutes=5), tick=True):
            assert await send_due_reminders(database) == 0
        assert await reminders_of(database, patient.id) == []
        async with database.sessionmaker() as db:
            unsent = await db.scalar(
                select(func.count())
                .select_from(Reminder)
                .where(Reminder.appointment_id == uuid.UUID(appointment["id"]))
                .where(Reminder.sent_at.is_(None))
            )
        assert unsent == 0  # claimed, so no later run looks at them again

    async def test_after_an_outage_only_the_nearest_reminder_goes_out_with_the_true_lead(
        self,
        client: httpx.AsyncClient,
        database: Database,
        doctor_with_schedule: DoctorWithSchedule,
        make_user: MakeUser,
        token_for: TokenFor,
        scheduling_jobs: None,
    ) -> None:
        _, patient, _, appointment = await booked(
            client, doctor_with_schedule, make_user, token_for
        )
        with time_machine.travel(starts(appointment) - timedelta(minutes=30), tick=False):
            assert await send_due_reminders(database) == 2
        [only] = await reminders_of(database, patient.id)
        assert only.title == "Appointment in 30 minutes"

    async def test_moving_an_appointment_after_a_reminder_went_out_plans_new_ones(
        self,
        settings: Settings,
        database: Database,
        doctor_with_schedule: DoctorWithSchedule,
        make_user: MakeUser,
        token_for: TokenFor,
        client: httpx.AsyncClient,
        scheduling_jobs: None,
    ) -> None:
        """With no change cutoff, a patient may move an appointment whose 24-hour reminder
        was already sent: they are reminded again of the new time."""
        _, patient, _, appointment = await booked(
            client, doctor_with_schedule, make_user, token_for
        )
        start = starts(appointment)
        no_cutoff = settings.model_copy(update={"appointment_change_cutoff_hours": 0})
        actor = Actor(patient.id, Role.patient, UserStatus.active, uuid.uuid4())
        with time_machine.travel(start - DAY + timedelta(minutes=1), tick=True):
            assert await send_due_reminders(database) == 2
            async with database.transaction() as db:
                moved = await reschedule(
                    db,
                    CallScope.system(no_cutoff),
                    actor,
                    uuid.UUID(appointment["id"]),
                    berlin(days_ahead(6), 11),
                )
        new_start = moved.starts_at
        with time_machine.travel(new_start - DAY + timedelta(minutes=1), tick=True):
            assert await send_due_reminders(database) == 2
        sent = await reminders_of(database, patient.id)
        assert [n.title for n in sent] == ["Appointment in 24 hours"] * 2
        bodies = sorted(n.body for n in sent)
        assert [local_time(start, "UTC") in b for b in bodies].count(True) == 1
        assert [local_time(new_start, "UTC") in b for b in bodies].count(True) == 1


class TestConcurrentRuns:
    async def test_two_runs_at_once_send_every_reminder_exactly_once(
        self, settings: Settings, client: httpx.AsyncClient, scheduling_jobs: None
    ) -> None:
        """Committed rows on a real pool: two runs really race for 450 due reminders (more
        than a batch each), as two workers would."""
        database = Database.from_settings(settings)
        tag = uuid.uuid4().hex[:8]
        size = 15
        base = (datetime.now(UTC) + timedelta(days=5)).replace(second=0, microsecond=0)
        async with database.transaction() as db:
            people = {
                role: [
                    User(
                        email=f"{role}-{tag}-{i}@race.example",
                        name=f"{role} {i}",
                        role=role,
                        status=UserStatus.active,
                        password_hash="-",
                    )
                    for i in range(size)
                ]
                for role in (Role.doctor, Role.patient)
            }
            db.add_all(people[Role.doctor] + people[Role.patient])
            await db.flush()
            for d, doctor in enumerate(people[Role.doctor]):
                for p, patient in enumerate(people[Role.patient]):
                    # A Latin square: nobody is in two places at once.
                    start = base + timedelta(minutes=30 * ((d + p) % size))
                    appointment = Appointment(
                        id=uuid.uuid4(),
                        doctor_id=doctor.id,
                        patient_id=patient.id,
                        type="video",
                        status="scheduled",
                        starts_at=start,
                        ends_at=start + timedelta(minutes=30),
                        blocked_until=start + timedelta(minutes=30),
                        time_zone="Europe/Berlin",
                    )
                    db.add(appointment)
                    for person in (doctor.id, patient.id):
                        db.add(
                            Reminder(
                                appointment_id=appointment.id,
                                recipient_id=person,
                                minutes_before=1440,
                                due_at=start - DAY,
                            )
                        )
        ids = [u.id for group in people.values() for u in group]
        try:
            with time_machine.travel(base - DAY + timedelta(hours=8), tick=True):
                results = await asyncio.gather(
                    send_due_reminders(database),
                    send_due_reminders(database),
                    send_due_reminders(database),
                )
            assert sum(results) == 2 * size * size
            async with database.sessionmaker() as db:
                rows = await db.execute(
                    select(Notification.recipient_id, Notification.data["appointment_id"].astext)
                    .where(Notification.recipient_id.in_(ids))
                    .where(Notification.kind == "appointment_reminder")
                )
                counts = Counter(tuple(row) for row in rows)
            assert len(counts) == 2 * size * size
            assert set(counts.values()) == {1}
        finally:
            async with database.transaction() as db:
                await db.execute(delete(Appointment).where(Appointment.doctor_id.in_(ids)))
                await db.execute(delete(User).where(User.id.in_(ids)))
            await database.dispose()


async def held_slot(
    client: httpx.AsyncClient, make_doctor: Any, make_user: MakeUser, token_for: TokenFor
) -> tuple[User, User, User, str, uuid.UUID]:
    """A doctor with a fee, a slot held unpaid by a first patient, a second patient refused it:
    (doctor, first, second, slot, held appointment)."""
    doctor = await make_doctor(f"Dr {uuid.uuid4().hex[:6]}", fee=5000)
    put = await client.put(
        "/api/v1/doctors/me/schedule", json=schedule(), headers=await token_for(doctor)
    )
    assert put.status_code == 200, put.text
    first, second = await make_user(Role.patient), await make_user(Role.patient)
    slot = berlin(days_ahead(4), 14)
    held = await book(client, await token_for(first), doctor.id, slot)
    assert held.status_code == 201, held.text
    assert held.json()["status"] == "pending_payment"
    taken = await book(client, await token_for(second), doctor.id, slot)
    assert taken.status_code == 409, taken.text
    return doctor, first, second, slot, uuid.UUID(held.json()["id"])


async def status_of(database: Database, appointment_id: uuid.UUID) -> str | None:
    async with database.sessionmaker() as db:
        return await db.scalar(select(Appointment.status).where(Appointment.id == appointment_id))


class TestUnpaidHolds:
    @pytest.mark.parametrize("swept", [True, False], ids=["by the sweep", "by the next booking"])
    async def test_a_lapsed_hold_is_released_the_patient_told_and_the_slot_free_again(
        self,
        swept: bool,
        settings: Settings,
        database: Database,
        make_doctor: Any,
        make_user: MakeUser,
        token_for: TokenFor,
    ) -> None:
        """Released by the periodic sweep, or by a booking of the slot the sweep has not
        reached yet: either way the hold is cancelled once and its patient told once (after
        being told of the hold when they booked)."""
        online = online_settings(settings)
        app = create_app(online, database=database)
        async with lifespan_client(app) as client:
            doctor, first, second, slot, held = await held_slot(
                client, make_doctor, make_user, token_for
            )
            later = datetime.now(UTC) + timedelta(minutes=online.payment_hold_minutes + 1)
            with time_machine.travel(later, tick=True):
                if swept:
                    assert await release_lapsed_holds(database, online) == 1
                again = await book(client, await token_for(second), doctor.id, slot)
                assert again.status_code == 201, again.text
                assert await status_of(database, held) == "cancelled"
                async with database.sessionmaker() as db:
                    told = await db.scalars(
                        select(Notification.title).where(
                            Notification.recipient_id == first.id,
                            Notification.kind == "appointment_changed",
                        )
                    )
                    # Held when booked; released once, whoever released it.
                    assert sorted(told) == ["Appointment held: pay to confirm", "Booking released"]
                assert await release_lapsed_holds(database, online) == 0

    async def test_the_periodic_job_runs_the_sweep(
        self,
        settings: Settings,
        database: Database,
        client: httpx.AsyncClient,
        doctor_with_schedule: DoctorWithSchedule,
        make_user: MakeUser,
        scheduling_jobs: None,
    ) -> None:
        doctor, _ = await doctor_with_schedule()
        patient = await make_user(Role.patient)
        start = berlin(days_ahead(2), 9)
        async with database.transaction() as db:
            hold = Appointment(
                id=uuid.uuid4(),
                doctor_id=doctor.id,
                patient_id=patient.id,
                type="video",
                status="pending_payment",
                starts_at=start,
                ends_at=start + timedelta(minutes=30),
                blocked_until=start + timedelta(minutes=30),
                time_zone="Europe/Berlin",
                hold_expires_at=datetime.now(UTC) - timedelta(minutes=1),
            )
            db.add(hold)
        await release_lapsed_holds_task.defer_async(timestamp=int(time.time()))
        await work(settings, database, "scheduling")
        async with database.sessionmaker() as db:
            assert await db.scalar(select(Appointment.status).where(Appointment.id == hold.id)) == (
                "cancelled"
            )
        assert await count_of_kind(database, patient.id, "appointment_changed") == 1
