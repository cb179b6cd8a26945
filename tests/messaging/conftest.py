"""Fixtures of the messaging tests: a patient and a doctor with the conversation of an
appointment booked through the API (a video call in days, or a chat starting within minutes),
and everyone else (another patient, another doctor, a nurse, an administrator)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from carebridge.messaging.models import Conversation
from carebridge.platform.db import Database
from tests.factories.calls import people_around
from tests.factories.directory import MakeDoctor
from tests.factories.messaging import ROUND_THE_CLOCK, Talk, book_soon
from tests.factories.scheduling import next_weekday, written_appointment
from tests.factories.users import MakeUser, Person, TokenFor


@pytest.fixture
async def everyone_else(
    make_doctor: MakeDoctor, make_user: MakeUser, token_for: TokenFor
) -> dict[str, Person]:
    """Besides an appointment's doctor: its patient, another patient, a nurse, an administrator
    and another doctor."""
    return await people_around(make_doctor, make_user, token_for)


async def _conversation_of(database: Database, appointment_id: str) -> str:
    async with database.transaction() as db:
        found = await db.scalar(
            select(Conversation.id).where(Conversation.appointment_id == uuid.UUID(appointment_id))
        )
    assert found is not None
    return str(found)


@pytest.fixture
async def talk(
    client: httpx.AsyncClient,
    database: Database,
    everyone_else: dict[str, Person],
    scheduled_doctor: Any,
) -> Talk:
    """An appointment booked through the API: its conversation, opened by the booking."""
    doctor, doctor_headers = await scheduled_doctor()
    people = {"doctor": Person(doctor, doctor_headers)}
    people.update(everyone_else)
    booked = await client.post(
        "/api/v1/appointments",
        json={
            "doctor_id": str(doctor.id),
            "starts_at": f"{next_weekday(2).isoformat()}T10:00:00+00:00",
            "type": "video",
        },
        headers=people["patient"].headers,
    )
    assert booked.status_code == 201, booked.text
    appointment_id = booked.json()["id"]
    return Talk(client, await _conversation_of(database, appointment_id), people, appointment_id)


@pytest.fixture
async def chat(
    client: httpx.AsyncClient,
    database: Database,
    everyone_else: dict[str, Person],
    scheduled_doctor: Any,
) -> Talk:
    """A chat appointment booked through the API that starts within minutes (its doctor may
    start it now), and its conversation; the doctor offers 5-minute chat and video slots around
    the clock (``ROUND_THE_CLOCK``)."""
    doctor, doctor_headers = await scheduled_doctor(**ROUND_THE_CLOCK)
    people = {"doctor": Person(doctor, doctor_headers)}
    people.update(everyone_else)
    booked = await book_soon(client, doctor.id, people["patient"].headers, "chat")
    appointment_id = booked["id"]
    return Talk(client, await _conversation_of(database, appointment_id), people, appointment_id)


@pytest.fixture
def past_appointment(database: Database) -> Callable[..., Any]:
    """A completed appointment of ``patient`` with ``doctor`` that ended ``days`` ago."""

    async def make(doctor_id: uuid.UUID, patient_id: uuid.UUID, days: float = 2) -> None:
        starts = datetime.now(UTC).replace(microsecond=0) - timedelta(days=days, minutes=30)
        async with database.transaction() as db:
            db.add(written_appointment(doctor_id, patient_id, "completed", starts, starts))

    return make
