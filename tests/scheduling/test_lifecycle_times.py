"""When the moves of a consultation may happen: a start from a few minutes before its time (not
a day early), a completion only once started, a no-show only after the start plus a grace. Too
early answers 409 ``too_early`` with the instant it becomes possible."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import time_machine
from sqlalchemy import select

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import Role, User, UserStatus
from carebridge.config import Settings
from carebridge.notifications.models import Notification
from carebridge.platform.db import Database
from carebridge.platform.errors import Conflict
from carebridge.scheduling import lifecycle
from tests.factories import MakeUser, TokenFor
from tests.factories.calendar import DoctorWithSchedule, berlin, book, days_ahead


async def _booked(
    client: httpx.AsyncClient,
    doctor_with_schedule: DoctorWithSchedule,
    make_user: MakeUser,
    token_for: TokenFor,
) -> tuple[User, User, str, datetime]:
    """(doctor, patient, appointment id, its start): a video call at 10:00 Berlin in two days."""
    doctor, _ = await doctor_with_schedule()
    patient = await make_user(Role.patient)
    answer = await book(client, await token_for(patient), doctor.id, berlin(days_ahead(2), 10))
    assert answer.status_code == 201, answer.text
    body = answer.json()
    return doctor, patient, body["id"], datetime.fromisoformat(body["starts_at"])


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _titles(database: Database, user_id: uuid.UUID) -> list[str]:
    async with database.sessionmaker() as db:
        return list(
            await db.scalars(select(Notification.title).where(Notification.recipient_id == user_id))
        )


async def test_a_consultation_starts_only_shortly_before_its_time(
    client: httpx.AsyncClient,
    database: Database,
    doctor_with_schedule: DoctorWithSchedule,
    make_user: MakeUser,
    token_for: TokenFor,
) -> None:
    doctor, patient, appointment, starts = await _booked(
        client, doctor_with_schedule, make_user, token_for
    )
    url = f"/api/v1/appointments/{appointment}"
    doctor_headers = await token_for(doctor)

    # Two days ahead: neither started nor completed, and the patient is told nothing.
    early = await client.post(f"{url}/start", headers=doctor_headers)
    assert early.status_code == 409
    problem = early.json()
    assert problem["code"] == "too_early"
    assert problem["possible_from"] == _iso(starts - timedelta(minutes=10))
    assert "09:50" in problem["detail"]  # the doctor's time zone, Berlin
    unstarted = await client.post(f"{url}/complete", headers=doctor_headers)
    assert unstarted.status_code == 409
    assert unstarted.json()["code"] == "invalid_transition"
    assert "Your appointment is starting" not in await _titles(database, patient.id)

    with time_machine.travel(starts - timedelta(minutes=11), tick=False):
        still = await client.post(f"{url}/start", headers=await token_for(doctor))
        assert still.status_code == 409
        assert still.json()["possible_from"] == _iso(starts - timedelta(minutes=10))

    with time_machine.travel(starts - timedelta(minutes=10), tick=True):
        doctor_headers = await token_for(doctor)
        started = await client.post(f"{url}/start", headers=doctor_headers)
        assert started.status_code == 200, started.text
        assert started.json()["status"] == "in_progress"
        completed = await client.post(f"{url}/complete", headers=doctor_headers)
        assert completed.status_code == 200, completed.text
        assert completed.json()["status"] == "completed"
    assert "Your appointment is starting" in await _titles(database, patient.id)


async def test_a_no_show_only_after_the_start_and_the_grace(
    client: httpx.AsyncClient,
    doctor_with_schedule: DoctorWithSchedule,
    make_user: MakeUser,
    token_for: TokenFor,
) -> None:
    doctor, _, appointment, starts = await _booked(
        client, doctor_with_schedule, make_user, token_for
    )
    url = f"/api/v1/appointments/{appointment}/no-show"
    with time_machine.travel(starts + timedelta(minutes=14), tick=False):
        early = await client.post(url, headers=await token_for(doctor))
        assert early.status_code == 409
        assert early.json()["code"] == "too_early"
        assert early.json()["possible_from"] == _iso(starts + timedelta(minutes=15))
    with time_machine.travel(starts + timedelta(minutes=15), tick=True):
        missed = await client.post(url, headers=await token_for(doctor))
        assert missed.status_code == 200, missed.text
        assert missed.json()["status"] == "no_show"


@dataclass(frozen=True)
class _Appointment:
    status: str
    starts_at: datetime
    time_zone: str = "UTC"


def test_the_pages_and_the_service_share_one_configurable_rule(settings: Settings) -> None:
    """``moves_now`` (what the pages offer) opens a start exactly when ``check_time`` (what
    the service refuses by) lets it through, with the configured minutes."""
    earlier = settings.model_copy(
        update={"consultation_early_start_minutes": 30, "no_show_grace_minutes": 5}
    )
    starts = datetime(2030, 5, 6, 9, 0, tzinfo=UTC)
    doctor = Actor(uuid.uuid4(), Role.doctor, UserStatus.active, uuid.uuid4())
    scheduled = _Appointment("scheduled", starts)
    for now, start, no_show in (
        (starts - timedelta(minutes=31), starts - timedelta(minutes=30), None),
        (starts - timedelta(minutes=30), None, None),
        (starts + timedelta(minutes=5), None, None),
    ):
        offered = lifecycle.moves_now(earlier, doctor, scheduled, now)
        assert offered["start"] == start
        if start is None:
            lifecycle.check_time(earlier, scheduled, "start", Role.doctor, now)  # no refusal
        else:
            with pytest.raises(Conflict) as refused:
                lifecycle.check_time(earlier, scheduled, "start", Role.doctor, now)
            assert refused.value.extra["possible_from"] == _iso(start)
        assert offered["no_show"] == (starts + timedelta(minutes=5) if now < starts else no_show)
    assert "complete" not in lifecycle.moves_now(earlier, doctor, scheduled, starts)
    started = _Appointment("in_progress", starts)
    assert lifecycle.moves_now(earlier, doctor, started, starts - timedelta(minutes=5)) == {
        "complete": None
    }
