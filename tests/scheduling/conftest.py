"""Factories for scheduling tests: verified doctors with a weekly schedule, and tokens for any
user without a password round trip."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from carebridge.accounts.models import User
from tests.directory.conftest import MakeDoctor, make_doctor  # noqa: F401 - the fixture
from tests.factories import Headers, TokenFor

WEEKDAYS_9_TO_17 = [{"weekday": d, "starts": "09:00", "ends": "17:00"} for d in range(7)]


def schedule_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "time_zone": "Europe/Berlin",
        "booking_horizon_days": 120,
        "min_notice_minutes": 0,
        "windows": WEEKDAYS_9_TO_17,
        "types": [
            {"type": "video", "duration_minutes": 30, "buffer_minutes": 0},
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
    make_doctor: MakeDoctor,  # noqa: F811 - the imported fixture
    token_for: TokenFor,
) -> Callable[..., Awaitable[tuple[User, Headers]]]:
    """A verified doctor whose schedule is set through the API."""

    async def make(fee: int | None = None, **schedule: Any) -> tuple[User, Headers]:
        doctor = await make_doctor(f"Dr {uuid.uuid4().hex[:6]}", fee=fee)
        headers = await token_for(doctor)
        answer = await client.put(
            "/api/v1/doctors/me/schedule", json=schedule_body(**schedule), headers=headers
        )
        assert answer.status_code == 200, answer.text
        return doctor, headers

    return make
