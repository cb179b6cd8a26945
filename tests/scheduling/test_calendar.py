"""Appointments as iCalendar: the single download and a doctor's private feed."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from icalendar import Calendar, Event
from sqlalchemy import select

from carebridge.accounts.models import Role, User
from carebridge.platform.db import Database
from carebridge.scheduling.models import CalendarFeed
from tests.factories import Headers, MakeUser, TokenFor
from tests.factories.calendar import DoctorWithSchedule, berlin, book, days_ahead

# Fixtures of this module (bound here, not imported, so that parameters may take their names).

FEED = "/api/v1/doctors/me/calendar-feed"


def events(body: bytes) -> list[Event]:
    calendar = Calendar.from_ical(body)
    assert isinstance(calendar, Calendar)
    return list(calendar.events)


def utc(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


async def appointment(
    client: httpx.AsyncClient,
    doctor_with_schedule: DoctorWithSchedule,
    make_user: MakeUser,
    token_for: TokenFor,
) -> tuple[User, Headers, User, Headers, dict[str, Any]]:
    doctor, doctor_headers = await doctor_with_schedule(name="Dr Ada Quill")
    patient = await make_user(Role.patient)
    patient_headers = await token_for(patient)
    answer = await book(
        client, patient_headers, doctor.id, berlin(days_ahead(5), 11), reason="chest pain"
    )
    assert answer.status_code == 201, answer.text
    return doctor, doctor_headers, patient, patient_headers, answer.json()


class TestAppointmentFile:
    async def test_callers_that_are_refused(
        self,
        client: httpx.AsyncClient,
        doctor_with_schedule: DoctorWithSchedule,
        make_user: MakeUser,
        token_for: TokenFor,
        scheduling_jobs: None,
    ) -> None:
        _, _, _, _, booked = await appointment(client, doctor_with_schedule, make_user, token_for)
        url = f"/api/v1/appointments/{booked['id']}/calendar.ics"
        assert (await client.get(url)).status_code == 401
        stranger = await token_for(await make_user(Role.patient))
        refused = await client.get(url, headers=stranger)
        assert refused.status_code == 404
        assert refused.json()["code"] == "not_found"
        _, other_doctor = await doctor_with_schedule()
        assert (await client.get(url, headers=other_doctor)).status_code == 404
        missing = f"/api/v1/appointments/{uuid.uuid4()}/calendar.ics"
        assert (await client.get(missing, headers=stranger)).status_code == 404

    async def test_one_event_in_utc_with_names_and_no_reason(
        self,
        client: httpx.AsyncClient,
        doctor_with_schedule: DoctorWithSchedule,
        make_user: MakeUser,
        token_for: TokenFor,
        scheduling_jobs: None,
    ) -> None:
        doctor, doctor_headers, patient, patient_headers, booked = await appointment(
            client, doctor_with_schedule, make_user, token_for
        )
        url = f"/api/v1/appointments/{booked['id']}/calendar.ics"
        answer = await client.get(url, headers=patient_headers)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "text/calendar; charset=utf-8"
        assert (
            answer.headers["content-disposition"]
            == f'attachment; filename="appointment-{booked["id"]}.ics"'
        )
        [event] = events(answer.content)
        assert event.start == utc(booked["starts_at"])
        assert event.end == utc(booked["ends_at"])
        assert event.start.utcoffset().total_seconds() == 0
        dtstart = next(line for line in answer.content.splitlines() if line.startswith(b"DTSTART"))
        assert dtstart.endswith(b"Z")  # written in UTC, not with a TZID
        assert event["SUMMARY"] == "Video call with Dr Ada Quill"
        assert patient.name in event["DESCRIPTION"]
        assert event["STATUS"] == "CONFIRMED"
        assert event["URL"] == f"http://localhost:8000/appointments/{booked['id']}"
        assert b"chest pain" not in answer.content

        as_doctor = await client.get(url, headers=doctor_headers)
        [seen_by_doctor] = events(as_doctor.content)
        assert seen_by_doctor["SUMMARY"] == f"Video call with {patient.name}"
        assert seen_by_doctor["UID"] == event["UID"]  # stable per appointment
        assert doctor.name in seen_by_doctor["DESCRIPTION"]

    async def test_a_cancelled_appointment_is_marked_cancelled(
        self,
        client: httpx.AsyncClient,
        doctor_with_schedule: DoctorWithSchedule,
        make_user: MakeUser,
        token_for: TokenFor,
        scheduling_jobs: None,
    ) -> None:
        _, _, _, patient_headers, booked = await appointment(
            client, doctor_with_schedule, make_user, token_for
        )
        url = f"/api/v1/appointments/{booked['id']}/calendar.ics"
        first = events((await client.get(url, headers=patient_headers)).content)[0]
        cancel = await client.post(
            f"/api/v1/appointments/{booked['id']}/cancel", json={}, headers=patient_headers
        )
        assert cancel.status_code == 200, cancel.text
        [event] = events((await client.get(url, headers=patient_headers)).content)
        assert event["STATUS"] == "CANCELLED"
        assert event["UID"] == first["UID"]


class TestFeed:
    async def test_callers_that_are_refused(
        self, client: httpx.AsyncClient, make_user: MakeUser, token_for: TokenFor
    ) -> None:
        assert (await client.post(FEED)).status_code == 401
        assert (await client.delete(FEED)).status_code == 401
        patient = await token_for(await make_user(Role.patient))
        assert (await client.post(FEED, headers=patient)).status_code == 403
        assert (await client.delete(FEED, headers=patient)).status_code == 403
        unknown = await client.get(f"/api/v1/calendar/{'x' * 43}.ics")
        assert unknown.status_code == 404
        assert unknown.headers["content-type"].startswith("application/problem+json")

    async def test_a_fresh_feed_lists_the_doctors_appointments_and_revoking_ends_it(
        self,
        client: httpx.AsyncClient,
        database: Database,
        doctor_with_schedule: DoctorWithSchedule,
        make_user: MakeUser,
        token_for: TokenFor,
        scheduling_jobs: None,
    ) -> None:
        doctor, doctor_headers, patient, _, booked = await appointment(
            client, doctor_with_schedule, make_user, token_for
        )
        second = await make_user(Role.patient)
        other = await book(
            client, await token_for(second), doctor.id, berlin(days_ahead(6), 9), reason="cough"
        )
        assert other.status_code == 201, other.text
        # Someone else's appointment with another doctor is not in this doctor's feed.
        elsewhere, _ = await doctor_with_schedule()
        assert (
            await book(client, await token_for(second), elsewhere.id, berlin(days_ahead(7), 9))
        ).status_code == 201

        created = await client.post(FEED, headers=doctor_headers)
        assert created.status_code == 201, created.text
        url = created.json()["url"]
        assert url.startswith("http://localhost:8000/api/v1/calendar/")
        assert created.json()["webcal_url"] == "webcal://" + url.split("://", 1)[1]
        path = urlsplit(url).path
        token = path.rsplit("/", 1)[1].removesuffix(".ics")

        feed = await client.get(path)  # no sign-in: the token is the credential
        assert feed.status_code == 200, feed.text
        assert feed.headers["content-type"] == "text/calendar; charset=utf-8"
        listed = {str(e["UID"]): e for e in events(feed.content)}
        assert len(listed) == 2
        mine = next(e for e in listed.values() if booked["id"] in str(e["UID"]))
        assert mine.start == utc(booked["starts_at"])
        assert mine["SUMMARY"] == f"Video call with {patient.name}"
        assert b"chest pain" not in feed.content
        assert b"cough" not in feed.content

        # Only the hash is stored.
        async with database.sessionmaker() as db:
            stored = list(
                await db.scalars(
                    select(CalendarFeed.token_hash).where(CalendarFeed.doctor_id == doctor.id)
                )
            )
        assert stored == [hashlib.sha256(token.encode()).digest()]
        assert all(token.encode() not in row for row in stored)

        # A new URL revokes the old one.
        renewed = await client.post(FEED, headers=doctor_headers)
        assert renewed.status_code == 201
        new_path = urlsplit(renewed.json()["url"]).path
        assert new_path != path
        assert (await client.get(path)).status_code == 404
        assert (await client.get(new_path)).status_code == 200

        assert (await client.delete(FEED, headers=doctor_headers)).status_code == 204
        assert (await client.get(new_path)).status_code == 404
        assert (await client.delete(FEED, headers=doctor_headers)).status_code == 204

    async def test_recently_cancelled_appointments_are_listed_as_cancelled(
        self,
        client: httpx.AsyncClient,
        doctor_with_schedule: DoctorWithSchedule,
        make_user: MakeUser,
        token_for: TokenFor,
        scheduling_jobs: None,
    ) -> None:
        _, doctor_headers, _, patient_headers, booked = await appointment(
            client, doctor_with_schedule, make_user, token_for
        )
        cancel = await client.post(
            f"/api/v1/appointments/{booked['id']}/cancel", json={}, headers=patient_headers
        )
        assert cancel.status_code == 200, cancel.text
        created = await client.post(FEED, headers=doctor_headers)
        [event] = events((await client.get(urlsplit(created.json()["url"]).path)).content)
        assert event["STATUS"] == "CANCELLED"


async def test_calendar_apps_may_cache_the_feed_for_five_minutes(
    client: httpx.AsyncClient, make_doctor: Any, token_for: TokenFor
) -> None:
    headers = await token_for(await make_doctor())
    created = await client.post(FEED, headers=headers)
    feed = await client.get(urlsplit(created.json()["url"]).path)
    assert feed.status_code == 200
    assert feed.headers["cache-control"] == "private, max-age=300"
