"""Scheduling pages over HTTP: the doctor's schedule form, exceptions and calendar; a patient
books from the slot list, loses a contested slot to someone faster, cancels and reschedules."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime, time, timedelta
from typing import Any

import httpx
import pytest
import time_machine
from sqlalchemy import select, update

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import Role, User, UserStatus
from carebridge.config import Settings
from carebridge.directory.models import DoctorProfile
from carebridge.platform.db import Database
from carebridge.scheduling import schedules
from carebridge.scheduling.models import Appointment, Schedule
from carebridge.scheduling.schemas import ScheduleIn
from carebridge.seed import seed_demo
from tests.factories import MakeUser
from tests.factories.directory import MakeDoctor
from tests.factories.web import Browser, accept_pending_consents, csrf, sign_in_browser

HTML = {"accept": "text/html"}


async def open_all_day(database: Database, doctor: User, **overrides: Any) -> None:
    """A schedule with video slots of 30 minutes all day every day (UTC), bookable at once."""
    body: dict[str, Any] = {
        "time_zone": "UTC",
        "booking_horizon_days": 30,
        "min_notice_minutes": 0,
        "windows": [{"weekday": d, "starts": "00:00", "ends": "23:30"} for d in range(7)],
        "types": [{"type": "video", "duration_minutes": 30, "buffer_minutes": 0}],
    }
    body.update(overrides)
    actor = Actor(doctor.id, Role.doctor, UserStatus.active, uuid.uuid4())
    async with database.transaction() as db:
        await schedules.put_schedule(db, actor, ScheduleIn.model_validate(body))


async def patient_in(database: Database, make_user: MakeUser, zone: str) -> User:
    patient = await make_user(Role.patient)
    async with database.transaction() as db:
        await db.execute(update(User).where(User.id == patient.id).values(time_zone=zone))
    return patient


def slot_links(page: httpx.Response) -> list[str]:
    return [
        link.replace("&amp;", "&") for link in re.findall(r'class="slot" href="([^"]+)"', page.text)
    ]


def booking_form(page: httpx.Response) -> dict[str, str]:
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page.text))
    return {**fields, "reason": "A cough for two weeks"}


async def book_first_slot(
    browser: httpx.AsyncClient, doctor_id: uuid.UUID, pick: int = 0
) -> tuple[str, str]:
    """Books the ``pick``-th open slot: (appointment id, the slot's start as sent)."""
    slots = await browser.get(f"/doctors/{doctor_id}/book")
    confirm = await browser.get(slot_links(slots)[pick])
    assert confirm.status_code == 200, confirm.text
    form = booking_form(confirm)
    booked = await browser.post(f"/doctors/{doctor_id}/book", data=form)
    assert booked.status_code == 303, booked.text
    match = re.fullmatch(r"/appointments/([0-9a-f-]+)\?done=booked", booked.headers["location"])
    assert match, booked.headers["location"]
    return match.group(1), form["starts_at"]


def _tomorrow(hour: int, minute: int) -> datetime:
    """An instant tomorrow (UTC), for tests that pin the clock around a slot."""
    day = datetime.now(UTC).date() + timedelta(days=1)
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


def _entry(page: httpx.Response, appointment: str) -> str:
    """The part of a page about one appointment (its entry in a list, or the whole page)."""
    found = re.search(
        rf'id="appointment-{appointment}".*?(?=id="appointment-|</main>|$)', page.text, re.S
    )
    assert found, page.text
    return found.group(0)


class TestCallers:
    async def test_pages_refuse_anonymous_and_wrong_roles(
        self,
        client: httpx.AsyncClient,
        make_doctor: MakeDoctor,
        make_user: MakeUser,
        browser: Browser,
    ) -> None:
        doctor = await make_doctor()
        for url in ("/doctor/schedule", "/doctor/appointments", f"/doctors/{doctor.id}/book"):
            answer = await client.get(url)
            assert answer.status_code == 303, url
            assert answer.headers["location"].startswith("/signin?next=")
        nurse = await browser(await make_user(Role.nurse))
        for url in ("/doctor/schedule", "/doctor/appointments", f"/doctors/{doctor.id}/book"):
            assert (await nurse.get(url, headers=HTML)).status_code == 403, url
        as_doctor = await browser(doctor)
        assert (await as_doctor.get(f"/doctors/{doctor.id}/book")).status_code == 403


class TestScheduleEditor:
    async def test_a_doctor_saves_the_schedule_through_the_form(
        self, client: httpx.AsyncClient, make_doctor: MakeDoctor, database: Database
    ) -> None:
        doctor = await make_doctor()
        await sign_in_browser(client, doctor.email)
        page = await client.get("/doctor/schedule")
        assert page.status_code == 200
        assert 'id="no-schedule"' in page.text
        form = {
            "csrf_token": csrf(page),
            "time_zone": "Europe/Berlin",
            "min_notice_minutes": "60",
            "booking_horizon_days": "45",
            "window_weekday": ["0", "0", "2", "4"],
            "window_starts": ["09:00", "13:00", "10:00", ""],
            "window_ends": ["12:00", "17:00", "14:00", ""],  # the last row is empty: ignored
            "offer_video": "on",
            "video_duration": "30",
            "video_buffer": "0",
            "offer_in_person": "on",
            "in_person_duration": "45",
            "in_person_buffer": "15",
            "chat_duration": "15",
            "chat_buffer": "0",
        }
        saved = await client.post("/doctor/schedule", data=form)
        assert saved.status_code == 303, saved.text
        shown = await client.get(saved.headers["location"])
        assert "Schedule saved." in shown.text
        assert 'value="13:00"' in shown.text
        assert 'id="offer-in_person" checked' in shown.text
        assert 'id="offer-chat" checked' not in shown.text
        async with database.transaction() as db:
            schedule = await db.get(Schedule, doctor.id)
            assert schedule is not None
            assert (schedule.time_zone, schedule.min_notice_minutes) == ("Europe/Berlin", 60)
        actor = Actor(doctor.id, Role.doctor, UserStatus.active, uuid.uuid4())
        async with database.transaction() as db:
            stored = await schedules.get_schedule(db, actor)
        assert [(w.weekday, str(w.starts)) for w in stored.windows] == [
            (0, "09:00:00"),
            (0, "13:00:00"),
            (2, "10:00:00"),
        ]
        assert {t.type: t.buffer_minutes for t in stored.types} == {"video": 0, "in_person": 15}

    @pytest.mark.parametrize(
        ("change", "words"),
        [
            ({"window_starts": ["12:00"], "window_ends": ["09:00"]}, "ends after it starts"),
            ({"time_zone": "Mars/Olympus"}, "Time zone: must be an IANA time zone"),
            (
                {
                    "window_weekday": ["1", "1"],
                    "window_starts": ["09:00", "10:00"],
                    "window_ends": ["12:00", "11:00"],
                },
                "must not overlap",
            ),
            ({"offer_video": None}, "Appointment types"),
            ({"video_duration": "abc"}, "Video call, Length: a whole number of minutes"),
            ({"video_duration": "2"}, "Video call, Length: at least 5 minutes"),
            ({"window_starts": ["9 am"]}, "Weekly hours, row 1, From: a time such as 09:30"),
            ({"booking_horizon_days": "999"}, "Booking horizon: at most 366 days"),
        ],
    )
    async def test_bad_input_is_shown_next_to_the_form_and_nothing_is_saved(
        self,
        client: httpx.AsyncClient,
        make_doctor: MakeDoctor,
        database: Database,
        change: dict[str, Any],
        words: str,
    ) -> None:
        doctor = await make_doctor()
        await sign_in_browser(client, doctor.email)
        page = await client.get("/doctor/schedule")
        form: dict[str, Any] = {
            "csrf_token": csrf(page),
            "time_zone": "Europe/Berlin",
            "min_notice_minutes": "60",
            "booking_horizon_days": "45",
            "window_weekday": ["1"],
            "window_starts": ["09:00"],
            "window_ends": ["12:00"],
            "offer_video": "on",
            "video_duration": "30",
            "video_buffer": "0",
        }
        form.update(change)
        form = {k: v for k, v in form.items() if v is not None}
        bad = await client.post("/doctor/schedule", data=form)
        assert bad.status_code == 422, bad.text
        assert 'id="schedule-error"' in bad.text
        assert words in bad.text.replace("&#39;", "'"), bad.text[:3000]
        # What was typed is kept in the form.
        assert 'value="Europe/Berlin"' in bad.text or 'value="Mars/Olympus"' in bad.text
        async with database.transaction() as db:
            assert await db.get(Schedule, doctor.id) is None

    async def test_forged_form_is_refused(
        self, client: httpx.AsyncClient, make_doctor: MakeDoctor
    ) -> None:
        doctor = await make_doctor()
        await sign_in_browser(client, doctor.email)
        await client.get("/doctor/schedule")
        forged = await client.post(
            "/doctor/schedule", data={"csrf_token": "guess", "time_zone": "UTC"}
        )
        assert forged.status_code == 403

    async def test_time_off_is_added_listed_and_removed(
        self, client: httpx.AsyncClient, make_doctor: MakeDoctor, database: Database
    ) -> None:
        doctor = await make_doctor()
        await sign_in_browser(client, doctor.email)
        page = await client.get("/doctor/schedule")
        token = csrf(page)
        early = await client.post(
            "/doctor/schedule/exceptions",
            data={"csrf_token": token, "kind": "time_off", "date": "2099-01-01"},
        )
        assert early.status_code == 422
        assert "Set up your weekly schedule first." in early.text
        await open_all_day(database, doctor, time_zone="Europe/Berlin")
        day = (datetime.now(UTC) + timedelta(days=10)).date().isoformat()
        no_end = await client.post(
            "/doctor/schedule/exceptions",
            data={"csrf_token": token, "kind": "extra_hours", "date": day, "starts": "18:00"},
        )
        assert no_end.status_code == 422
        assert 'id="exception-error"' in no_end.text
        assert "Give both starts and ends" in no_end.text
        added = await client.post(
            "/doctor/schedule/exceptions",
            data={"csrf_token": token, "kind": "time_off", "date": day, "note": "Conference"},
        )
        assert added.status_code == 303, added.text
        listed = await client.get("/doctor/schedule")
        assert "Conference" in listed.text
        exception_id = re.search(r'id="exception-([0-9a-f-]+)"', listed.text)
        assert exception_id
        removed = await client.post(
            f"/doctor/schedule/exceptions/{exception_id.group(1)}/delete",
            data={"csrf_token": token},
        )
        assert removed.status_code == 303
        assert "Conference" not in (await client.get("/doctor/schedule")).text


class TestBooking:
    async def test_a_patient_sees_slots_in_their_zone_and_books(
        self,
        client: httpx.AsyncClient,
        make_doctor: MakeDoctor,
        make_user: MakeUser,
        database: Database,
    ) -> None:
        doctor = await make_doctor("Dr. Slots", fee=4000)
        await open_all_day(database, doctor)
        profile = await client.get(f"/doctors/{doctor.id}")
        assert f'href="/doctors/{doctor.id}/book"' in profile.text
        patient = await patient_in(database, make_user, "Asia/Kolkata")
        await sign_in_browser(client, patient.email)
        page = await client.get(f"/doctors/{doctor.id}/book")
        assert page.status_code == 200
        assert "Asia/Kolkata" in page.text
        links = slot_links(page)
        assert links
        # Slots on the half hour in UTC are on the hour or half past + 5:30 in Kolkata: the
        # list is in the patient's zone, grouped by the patient's days.
        first = re.search(r'class="slot" href="[^"]+" data-at="([^"]+)">(\d\d:\d\d)<', page.text)
        assert first
        utc = datetime.fromisoformat(first.group(1))
        assert (utc + timedelta(hours=5, minutes=30)).strftime("%H:%M") == first.group(2)
        confirm = await client.get(links[0])
        assert confirm.status_code == 200
        assert "Dr. Slots" in confirm.text
        assert "40.00 EUR" in confirm.text
        booked = await client.post(f"/doctors/{doctor.id}/book", data=booking_form(confirm))
        assert booked.status_code == 303, booked.text
        shown = await client.get(booked.headers["location"])
        assert shown.status_code == 200
        assert "Booked." in shown.text
        assert "A cough for two weeks" in shown.text
        assert 'id="status">scheduled<' in shown.text
        assert "calendar.ics" in shown.text
        # The booked slot is gone from the list.
        again = await client.get(f"/doctors/{doctor.id}/book")
        assert links[0] not in slot_links(again)

    async def test_a_slot_just_taken_shows_a_message_and_the_fresh_list(
        self,
        client: httpx.AsyncClient,
        make_doctor: MakeDoctor,
        make_user: MakeUser,
        database: Database,
        browser: Browser,
    ) -> None:
        doctor = await make_doctor()
        await open_all_day(database, doctor)
        first = await browser(await make_user(Role.patient))
        second = await browser(await make_user(Role.patient))
        slots = await second.get(f"/doctors/{doctor.id}/book")
        link = slot_links(slots)[1]
        confirm = await second.get(link)  # the second patient is reading the confirm page...
        await book_first_slot(first, doctor.id, pick=1)  # ...while the first one books it
        late = await second.post(f"/doctors/{doctor.id}/book", data=booking_form(confirm))
        assert late.status_code == 409
        assert "just taken" in late.text
        assert "<h1>Book an appointment</h1>" in late.text
        assert link not in slot_links(late)
        assert slot_links(late)
        # Following the stale link says so too.
        stale = await second.get(link)
        assert stale.status_code == 409
        assert "just taken" in stale.text

    async def test_a_made_up_slot_and_a_doctor_without_schedule(
        self,
        client: httpx.AsyncClient,
        make_doctor: MakeDoctor,
        make_user: MakeUser,
        database: Database,
    ) -> None:
        doctor = await make_doctor()
        patient = await make_user(Role.patient)
        await sign_in_browser(client, patient.email)
        empty = await client.get(f"/doctors/{doctor.id}/book")
        assert 'id="no-types"' in empty.text
        await open_all_day(database, doctor)
        odd = (datetime.now(UTC) + timedelta(days=2)).replace(minute=7, second=0, microsecond=0)
        page = await client.get(
            f"/doctors/{doctor.id}/book/confirm",
            params={"type": "video", "at": odd.strftime("%Y-%m-%dT%H:%M:%SZ")},
        )
        assert page.status_code == 422
        assert "There is no slot at that time" in page.text
        nonsense = await client.get(
            f"/doctors/{doctor.id}/book/confirm", params={"type": "video", "at": "tomorrow"}
        )
        assert nonsense.status_code == 422
        missing = await client.get(f"/doctors/{uuid.uuid4()}/book", headers=HTML)
        assert missing.status_code == 404


class TestAppointments:
    async def test_someone_elses_appointment_is_not_found(
        self,
        client: httpx.AsyncClient,
        make_doctor: MakeDoctor,
        make_user: MakeUser,
        database: Database,
        browser: Browser,
    ) -> None:
        doctor = await make_doctor()
        await open_all_day(database, doctor)
        owner = await browser(await make_user(Role.patient))
        appointment, _ = await book_first_slot(owner, doctor.id)
        assert (await owner.get(f"/appointments/{appointment}")).status_code == 200
        stranger = await browser(await make_user(Role.patient))
        for url in (
            f"/appointments/{appointment}",
            f"/appointments/{appointment}/calendar.ics",
            f"/appointments/{appointment}/reschedule",
        ):
            answer = await stranger.get(url, headers=HTML)
            assert answer.status_code == 404, url
            assert "<html" in answer.text
        token = csrf(await stranger.get("/appointments"))
        cancel = await stranger.post(
            f"/appointments/{appointment}/act",
            data={"csrf_token": token, "move": "cancel", "back": "list"},
            headers=HTML,
        )
        assert cancel.status_code == 404
        assert appointment not in (await stranger.get("/appointments")).text

    async def test_my_appointments_cancel_reschedule_and_calendar_file(
        self,
        client: httpx.AsyncClient,
        make_doctor: MakeDoctor,
        make_user: MakeUser,
        database: Database,
        browser: Browser,
    ) -> None:
        doctor = await make_doctor()
        await open_all_day(database, doctor)
        patient = await browser(await make_user(Role.patient))
        # 3 days ahead: past the 24 hour cutoff for changes.
        slots = slot_links(await patient.get(f"/doctors/{doctor.id}/book"))
        far = next(i for i, link in enumerate(slots) if _at(link) > _days(3))
        appointment, _ = await book_first_slot(patient, doctor.id, pick=far)
        listed = await patient.get("/appointments")
        assert f'id="appointment-{appointment}"' in listed.text
        assert f"/appointments/{appointment}/reschedule" in listed.text
        assert f"/appointments/{appointment}/calendar.ics" in listed.text

        ics = await patient.get(f"/appointments/{appointment}/calendar.ics")
        assert ics.status_code == 200
        assert ics.headers["content-type"].startswith("text/calendar")
        assert b"BEGIN:VEVENT" in ics.content
        assert b"cough" not in ics.content

        choose = await patient.get(f"/appointments/{appointment}/reschedule")
        assert choose.status_code == 200
        other = re.findall(r'name="starts_at" value="([^"]+)"', choose.text)[far + 3]
        moved = await patient.post(
            f"/appointments/{appointment}/reschedule",
            data={"csrf_token": csrf(choose), "starts_at": other},
        )
        assert moved.status_code == 303, moved.text
        async with database.transaction() as db:
            starts_at = await db.scalar(
                select(Appointment.starts_at).where(Appointment.id == uuid.UUID(appointment))
            )
        assert starts_at == datetime.fromisoformat(other)
        assert "Appointment moved." in (await patient.get(moved.headers["location"])).text

        cancelled = await patient.post(
            f"/appointments/{appointment}/act",
            data={"csrf_token": csrf(choose), "move": "cancel", "back": "list"},
        )
        assert cancelled.status_code == 303
        page = await patient.get(cancelled.headers["location"])
        assert "Appointment cancelled." in page.text
        assert "status-cancelled" in page.text

    async def test_too_late_to_change_is_said_plainly(
        self,
        client: httpx.AsyncClient,
        make_doctor: MakeDoctor,
        make_user: MakeUser,
        database: Database,
        browser: Browser,
    ) -> None:
        doctor = await make_doctor()
        await open_all_day(database, doctor)
        patient = await browser(await make_user(Role.patient))
        appointment, _ = await book_first_slot(patient, doctor.id)  # within the day
        page = await patient.get(f"/appointments/{appointment}")
        token = csrf(page)
        late = await patient.post(
            f"/appointments/{appointment}/act",
            data={"csrf_token": token, "move": "cancel", "back": "appointment"},
        )
        assert late.status_code == 409
        assert "cancelled online up to 24 hours before" in late.text
        assert 'role="alert"' in late.text
        choose = await patient.get(f"/appointments/{appointment}/reschedule")
        other = re.findall(r'name="starts_at" value="([^"]+)"', choose.text)[-1]
        moved = await patient.post(
            f"/appointments/{appointment}/reschedule",
            data={"csrf_token": token, "starts_at": other},
        )
        assert moved.status_code == 409
        assert "moved online up to 24 hours before" in moved.text
        doctors_move = await patient.post(
            f"/appointments/{appointment}/act",
            data={"csrf_token": token, "move": "start", "back": "list"},
        )
        assert doctors_move.status_code == 403
        assert "Only the doctor can do that." in doctors_move.text

    async def test_an_unpaid_booking_shows_pay_now_and_the_hold(
        self,
        client: httpx.AsyncClient,
        make_doctor: MakeDoctor,
        make_user: MakeUser,
        database: Database,
        browser: Browser,
    ) -> None:
        doctor = await make_doctor(fee=5000)
        await open_all_day(database, doctor)
        patient = await browser(await make_user(Role.patient))
        appointment, _ = await book_first_slot(patient, doctor.id)
        hold = datetime.now(UTC) + timedelta(minutes=15)
        async with database.transaction() as db:  # as a booking with online payment is
            await db.execute(
                update(Appointment)
                .where(Appointment.id == uuid.UUID(appointment))
                .values(status="pending_payment", hold_expires_at=hold, confirmed_at=None)
            )
        page = await patient.get(f"/appointments/{appointment}")
        assert 'id="pay-now"' in page.text
        assert "Pay now 50.00 EUR" in page.text
        assert hold.strftime("%H:%M") in page.text

    async def test_the_doctor_runs_the_day_from_the_calendar(
        self,
        client: httpx.AsyncClient,
        make_doctor: MakeDoctor,
        make_user: MakeUser,
        database: Database,
        browser: Browser,
    ) -> None:
        # Five minutes before a slot: its consultation may start (not earlier: see below).
        with time_machine.travel(_tomorrow(10, 25), tick=True):
            doctor = await make_doctor()
            await open_all_day(database, doctor)
            patient_user = await make_user(Role.patient)
            patient = await browser(patient_user)
            first, _ = await book_first_slot(patient, doctor.id)
            second, _ = await book_first_slot(patient, doctor.id)
            office = await browser(doctor)
            calendar = await office.get("/doctor/appointments")
            assert calendar.status_code == 200
            assert f'id="appointment-{first}"' in calendar.text
            assert patient_user.name in calendar.text
            assert 'Times in <strong id="zone">UTC</strong>' in calendar.text
            token = csrf(calendar)

            def move(appointment: str, name: str, **extra: str) -> Awaitable[httpx.Response]:
                data = {"csrf_token": token, "move": name, "back": "calendar", **extra}
                return office.post(f"/appointments/{appointment}/act", data=data)

            started = await move(first, "start")
            assert started.headers["location"] == "/doctor/appointments?done=start"
            assert (await move(first, "complete")).status_code == 303
            again = await move(first, "complete")
            assert again.status_code == 409
            assert "completed: it cannot be completed now" in again.text
            no_reason = await move(second, "cancel")
            assert no_reason.status_code == 422
            assert "Give the patient a reason" in no_reason.text
            assert (await move(second, "cancel", reason="Called in sick")).status_code == 303
            shown = await office.get("/doctor/appointments?done=cancel")
            assert "Appointment cancelled." in shown.text
            assert "status-completed" in shown.text
            assert "status-cancelled" in shown.text
            unknown = await move(second, "delete")
            assert unknown.status_code == 422

    async def test_start_is_offered_only_shortly_before_the_time(
        self,
        client: httpx.AsyncClient,
        make_doctor: MakeDoctor,
        make_user: MakeUser,
        database: Database,
        browser: Browser,
    ) -> None:
        """The buttons are the moves the service allows now: half an hour before, the doctor
        sees when the start opens, not a Start button, and a forged start is refused with the
        time; ten minutes before, Start is there and works."""
        doctor = await make_doctor()
        await open_all_day(database, doctor)
        slot, opens = _tomorrow(10, 30), _tomorrow(10, 20)
        with time_machine.travel(_tomorrow(10, 2), tick=True):
            patient = await browser(await make_user(Role.patient))
            appointment, starts_at = await book_first_slot(patient, doctor.id)
            assert datetime.fromisoformat(starts_at) == slot
            office = await browser(doctor)
            for page in ("/doctor/appointments", f"/appointments/{appointment}"):
                shown = await office.get(page)
                entry = _entry(shown, appointment)
                assert 'data-move="start"' not in entry, page
                assert 'data-move="no_show"' not in entry, page
                assert 'data-opens="start"' in entry, page
                assert "Start from" in entry, page
                assert "10:20" in entry, page
            forged = await office.post(
                f"/appointments/{appointment}/act",
                data={"csrf_token": csrf(shown), "move": "start", "back": "appointment"},
            )
            assert forged.status_code == 409
            assert "The consultation can start from" in forged.text
            assert "10:20" in forged.text
        with time_machine.travel(opens, tick=True):
            shown = await office.get(f"/appointments/{appointment}")
            entry = _entry(shown, appointment)
            assert 'data-move="start"' in entry
            assert 'data-opens="start"' not in entry
            started = await office.post(
                f"/appointments/{appointment}/act",
                data={"csrf_token": csrf(shown), "move": "start", "back": "appointment"},
            )
            assert started.status_code == 303
            shown = await office.get(started.headers["location"])
            assert "status-in_progress" in shown.text
            assert 'data-move="complete"' in shown.text


def _at(link: str) -> datetime:
    return datetime.fromisoformat(link.rsplit("at=", 1)[1])


def _days(n: int) -> datetime:
    return datetime.now(UTC) + timedelta(days=n)


class TestDemo:
    async def test_every_demo_doctor_takes_bookings_after_seeding(
        self,
        client: httpx.AsyncClient,
        database: Database,
        settings: Settings,
        make_user: MakeUser,
    ) -> None:
        await seed_demo(database, settings)
        again = await seed_demo(database, settings)
        assert again["scheduling"] == 0
        async with database.transaction() as db:
            rows = (
                await db.execute(
                    select(User.email, Schedule.time_zone, DoctorProfile.time_zone)
                    .join(DoctorProfile, DoctorProfile.user_id == User.id)
                    .outerjoin(Schedule, Schedule.doctor_id == User.id)
                    .where(User.role == Role.doctor, User.email.endswith("@demo.example.org"))
                )
            ).all()
            okonkwo = await db.scalar(
                select(User.id).where(User.email == "dr.okonkwo@demo.example.org")
            )
        assert len(rows) >= 40
        assert all(schedule_zone == zone for _, schedule_zone, zone in rows), rows
        patient = await make_user(Role.patient)
        await sign_in_browser(client, patient.email)
        await accept_pending_consents(client)  # the demo published the clinic's documents
        page = await client.get(f"/doctors/{okonkwo}/book?type=in_person")
        assert page.status_code == 200
        assert "Visit at the clinic · 45 min" in page.text
        assert slot_links(page)
