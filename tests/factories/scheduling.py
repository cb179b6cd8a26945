"""Doctors with a weekly schedule set through the API, days and times in Berlin, and the
booking API's calls."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from carebridge.accounts.models import User
from carebridge.scheduling.models import Appointment
from tests.factories.directory import MakeDoctor
from tests.factories.users import Headers, TokenFor

BERLIN = ZoneInfo("Europe/Berlin")
WEEKDAYS_9_TO_17 = [{"weekday": d, "starts": "09:00", "ends": "17:00"} for d in range(7)]
VIDEO_30 = {"type": "video", "duration_minutes": 30, "buffer_minutes": 0}


def schedule_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "time_zone": "Europe/Berlin",
        "booking_horizon_days": 120,
        "min_notice_minutes": 0,
        "windows": WEEKDAYS_9_TO_17,
        "types": [
            VIDEO_30,
            {"type": "in_person", "duration_minutes": 60, "buffer_minutes": 15},
        ],
    }
    body.update(overrides)
    return body


def next_weekday(weekday: int, weeks_ahead: int = 1) -> date:
    """A date of ``weekday`` at least a few days ahead (well past any notice)."""
    today = datetime.now(UTC).date() + timedelta(days=7 * weeks_ahead)
    return today + timedelta(days=(weekday - today.weekday()) % 7)


@pytest.fixture
def scheduled_doctor(
    client: httpx.AsyncClient,
    make_doctor: MakeDoctor,
    token_for: TokenFor,
) -> Callable[..., Awaitable[tuple[User, Headers]]]:
    """A verified doctor whose schedule is set through the API."""

    async def make(fee: int | None = None, **schedule: Any) -> tuple[User, Headers]:
        body = schedule_body(**schedule)
        return await doctor_on_schedule(client, make_doctor, token_for, body, fee=fee)

    return make


async def doctor_on_schedule(
    client: httpx.AsyncClient,
    make_doctor: MakeDoctor,
    token_for: TokenFor,
    schedule: dict[str, Any],
    name: str | None = None,
    fee: int | None = None,
) -> tuple[User, Headers]:
    """A verified doctor (``name``, or "Dr" and a random word) with a fee of ``fee`` whose weekly
    ``schedule`` is set through the API, and their bearer headers."""
    doctor = await make_doctor(name or f"Dr {uuid.uuid4().hex[:6]}", fee=fee)
    headers = await token_for(doctor)
    answer = await client.put("/api/v1/doctors/me/schedule", json=schedule, headers=headers)
    assert answer.status_code == 200, answer.text
    return doctor, headers


def at(day, hour: int, minute: int = 0) -> str:  # type: ignore[no-untyped-def]
    return datetime.combine(day, time(hour, minute), tzinfo=BERLIN).isoformat()


async def slots(client: httpx.AsyncClient, doctor_id, headers, kind="video", day=None):  # type: ignore[no-untyped-def]
    day = day or next_weekday(1)
    answer = await client.get(
        f"/api/v1/doctors/{doctor_id}/slots",
        params={"type": kind, "from": at(day, 0), "to": at(day + timedelta(days=1), 0)},
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


async def book(client, headers, doctor_id, starts_at, kind="video", key=None, reason=None):  # type: ignore[no-untyped-def]
    extra = {"Idempotency-Key": key} if key else {}
    return await client.post(
        "/api/v1/appointments",
        json={"doctor_id": str(doctor_id), "starts_at": starts_at, "type": kind, "reason": reason},
        headers={**headers, **extra},
    )


def written_appointment(
    doctor_id: uuid.UUID,
    patient_id: uuid.UUID,
    status: str,
    starts: datetime,
    completed_at: datetime | None = None,
) -> Appointment:
    """A video appointment of 30 minutes at ``starts``, to be added straight to the table with the
    status a test needs (whatever the lifecycle would have allowed)."""
    return Appointment(
        id=uuid.uuid4(),
        doctor_id=doctor_id,
        patient_id=patient_id,
        type="video",
        status=status,
        starts_at=starts,
        ends_at=starts + timedelta(minutes=30),
        blocked_until=starts + timedelta(minutes=30),
        time_zone="UTC",
        fee=0,
        completed_at=completed_at,
    )
