"""Factories for reviews tests: appointments written straight into the table with the status a
test needs (a completed consultation in the past, by default)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select

from carebridge.accounts.models import Role, User
from carebridge.directory.models import DoctorProfile
from carebridge.platform.db import Database
from carebridge.scheduling.models import Appointment
from tests.directory.conftest import MakeDoctor, make_doctor  # noqa: F401 - the fixture
from tests.factories import Headers, MakeUser, TokenFor

_slots = itertools.count(1)

MakeAppointment = Callable[..., Awaitable[Appointment]]


@pytest.fixture
def make_appointment(database: Database) -> MakeAppointment:
    """An appointment of ``patient`` with ``doctor``, a few days ago (each call another hour, so
    the no-double-booking constraints never fire)."""

    async def make(doctor: User, patient: User, status: str = "completed") -> Appointment:
        starts = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3, hours=next(_slots))
        appointment = Appointment(
            id=uuid.uuid4(),
            doctor_id=doctor.id,
            patient_id=patient.id,
            type="video",
            status=status,
            starts_at=starts,
            ends_at=starts + timedelta(minutes=30),
            blocked_until=starts + timedelta(minutes=30),
            time_zone="UTC",
            fee=0,
            completed_at=starts + timedelta(minutes=30) if status == "completed" else None,
        )
        async with database.transaction() as db:
            db.add(appointment)
        return appointment

    return make


@dataclass
class Person:
    user: User
    headers: Headers


@dataclass
class Cast:
    doctor: Person
    patient: Person
    appointment: Appointment


MakeCast = Callable[..., Awaitable[Cast]]


@pytest.fixture
def cast(
    make_doctor: MakeDoctor,  # noqa: F811 - the imported fixture
    make_user: MakeUser,
    make_appointment: MakeAppointment,
    token_for: TokenFor,
) -> MakeCast:
    """A listed doctor, a patient and a completed appointment between them, with tokens."""

    async def make(doctor: Person | None = None, **doctor_values: object) -> Cast:
        if doctor is None:
            user = await make_doctor(f"Dr {uuid.uuid4().hex[:6]}", **doctor_values)
            doctor = Person(user, await token_for(user))
        patient_user = await make_user(Role.patient)
        patient = Person(patient_user, await token_for(patient_user))
        appointment = await make_appointment(doctor.user, patient_user)
        return Cast(doctor, patient, appointment)

    return make


async def post_review(
    client: httpx.AsyncClient, cast: Cast, rating: int, comment: str | None = None
) -> httpx.Response:
    body: dict[str, object] = {"rating": rating}
    if comment is not None:
        body["comment"] = comment
    return await client.post(
        f"/api/v1/appointments/{cast.appointment.id}/review",
        json=body,
        headers=cast.patient.headers,
    )


async def rating_of(database: Database, doctor: User) -> tuple[Decimal | None, int]:
    async with database.transaction() as db:
        row = (
            await db.execute(
                select(DoctorProfile.rating_average, DoctorProfile.rating_count).where(
                    DoctorProfile.user_id == doctor.id
                )
            )
        ).one()
    return row.rating_average, row.rating_count
