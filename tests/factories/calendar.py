"""Helpers of the reminder, hold-sweep, notice and calendar tests: a doctor's schedule as the API
takes it, days and times in Berlin, bookings, the reminders and notices a person was sent, and a
client whose deferred jobs are deleted afterwards (the fixtures that use them are in
tests/scheduling/conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from carebridge.accounts.models import User
from carebridge.notifications.models import Notification
from carebridge.platform.db import Database
from carebridge.platform.jobs import job_app
from tests.factories.apps import serving
from tests.factories.scheduling import BERLIN, VIDEO_30, schedule_body
from tests.factories.users import Headers

DoctorWithSchedule = Callable[..., Awaitable[tuple[User, Headers]]]


def schedule(**overrides: Any) -> dict[str, Any]:
    """Video consultations only, bookable 60 days ahead."""
    return schedule_body(**{"booking_horizon_days": 60, "types": [VIDEO_30], **overrides})


def days_ahead(days: int) -> date:
    return datetime.now(BERLIN).date() + timedelta(days=days)


def berlin(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=BERLIN)


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


async def delete_test_jobs() -> None:
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
            await delete_test_jobs()
