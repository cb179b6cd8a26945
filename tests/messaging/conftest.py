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

from carebridge.platform.db import Database
from tests.factories.calls import people_around
from tests.factories.directory import MakeDoctor
from tests.factories.messaging import (
    ROUND_THE_CLOCK,
    Talk,
    book_soon,
    booked_talk,
    conversation_of,
)
from tests.factories.scheduling import written_appointment
from tests.factories.users import MakeUser, Person, TokenFor


@pytest.fixture
async def everyone_else(
    make_doctor: MakeDoctor, make_user: MakeUser, token_for: TokenFor
) -> dict[str, Person]:
    """Besides an appointment's doctor: its patient, another patient, a nurse, an administrator
    and another doctor."""
    return await people_around(make_doctor, make_user, token_for)


@pytest.fixture
async def talk(
    client: httpx.AsyncClient,
    database: Database,
    everyone_else: dict[str, Person],
    scheduled_doctor: Any,
) -> Talk:
    """An appointment booked through the API: its conversation, opened by the booking."""
    return await booked_talk(client, database, everyone_else, scheduled_doctor)


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
    return Talk(client, await conversation_of(database, appointment_id), people, appointment_id)


@pytest.fixture
def past_appointment(database: Database) -> Callable[..., Any]:
    """A completed appointment of ``patient`` with ``doctor`` that ended ``days`` ago."""

    async def make(doctor_id: uuid.UUID, patient_id: uuid.UUID, days: float = 2) -> None:
        starts = datetime.now(UTC).replace(microsecond=0) - timedelta(days=days, minutes=30)
        async with database.transaction() as db:
            db.add(written_appointment(doctor_id, patient_id, "completed", starts, starts))

    return make
