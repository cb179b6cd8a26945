"""Helpers of the reminder, hold-sweep and calendar tests (imported explicitly by them): doctors
with a schedule set through the API, bearer headers without a password round trip, bookings."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from carebridge.accounts.models import User
from carebridge.notifications.models import Notification
from carebridge.platform.db import Database
from carebridge.platform.jobs import job_app
from tests.directory import conftest as directory
from tests.directory.conftest import MakeDoctor
from tests.factories import Headers, TokenFor, serving

make_doctor = directory.make_doctor  # a fixture, bound so that parameters may take its name
BERLIN = ZoneInfo("Europe/Berlin")
DoctorWithSchedule = Callable[..., Awaitable[tuple[User, Headers]]]


def schedule(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "time_zone": "Europe/Berlin",
        "windows": [{"weekday": d, "starts": "09:00", "ends": "17:00"} for d in range(7)],
        "types": [{"type": "video", "duration_minutes": 30, "buffer_minutes": 0}],
        "min_notice_minutes": 0,
        "booking_horizon_days": 60,
    }
    body.update(overrides)
    return body


def days_ahead(days: int) -> date:
    return datetime.now(BERLIN).date() + timedelta(days=days)


def berlin(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=BERLIN)


@pytest.fixture
def doctor_with_schedule(
    client: httpx.AsyncClient, make_doctor: MakeDoctor, token_for: TokenFor
) -> DoctorWithSchedule:
    async def make(
        name: str | None = None, fee: int | None = None, **overrides: Any
    ) -> tuple[User, Headers]:
        doctor = await make_doctor(name or f"Dr {uuid.uuid4().hex[:6]}", fee=fee)
        headers = await token_for(doctor)
        answer = await client.put(
            "/api/v1/doctors/me/schedule", json=schedule(**overrides), headers=headers
        )
        assert answer.status_code == 200, answer.text
        return doctor, headers

    return make


async def open_slots(
    client: httpx.AsyncClient, headers: Headers, doctor_id: uuid.UUID, day: date
) -> list[str]:
    answer = await client.get(
        f"/api/v1/doctors/{doctor_id}/slots",
        params={
            "type": "video",
            "from": berlin(day, 0).isoformat(),
            "to": berlin(day + timedelta(days=1), 0).isoformat(),
        },
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return [slot["starts_at"] for slot in body["slots"]]


async def book(
    client: httpx.AsyncClient,
    headers: Headers,
    doctor_id: uuid.UUID,
    starts_at: datetime | str,
    reason: str | None = None,
) -> httpx.Response:
    at = starts_at if isinstance(starts_at, str) else starts_at.isoformat()
    return await client.post(
        "/api/v1/appointments",
        json={"doctor_id": str(doctor_id), "starts_at": at, "type": "video", "reason": reason},
        headers=headers,
    )


async def reminders_of(database: Database, recipient_id: uuid.UUID) -> list[Notification]:
    """In no particular order (rows of one test share its transaction's ``now()``)."""
    async with database.sessionmaker() as db:
        rows = await db.scalars(
            select(Notification).where(
                Notification.recipient_id == recipient_id,
                Notification.kind == "appointment_reminder",
            )
        )
        return list(rows)


async def count_of_kind(database: Database, recipient_id: uuid.UUID, kind: str) -> int:
    async with database.sessionmaker() as db:
        found = await db.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.recipient_id == recipient_id, Notification.kind == kind)
        )
        return int(found or 0)


@pytest.fixture
async def scheduling_jobs(client: httpx.AsyncClient) -> AsyncIterator[None]:
    """The app's lifespan opens the job queue; jobs are committed outside the test's
    transaction, so the queues these tests fill are emptied afterwards."""
    yield
    await _delete_test_jobs()


async def _delete_test_jobs() -> None:
    await job_app.connector.execute_query_async(
        "DELETE FROM procrastinate_jobs WHERE queue_name IN ('scheduling', 'notifications')"
    )


def utc(at: datetime) -> datetime:
    return at.astimezone(UTC)


@asynccontextmanager
async def lifespan_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app with other settings on the test's database, for a test that does not
    use the ``client`` fixture (the job queue is global: one open lifespan at a time). The jobs
    it deferred are deleted before its queue closes."""
    async with serving(app) as client:
        try:
            yield client
        finally:
            await _delete_test_jobs()
