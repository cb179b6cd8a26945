"""Fixtures of the reviews tests: appointments written straight into the table with the status a
test needs (a completed consultation in the past, by default)."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from carebridge.accounts.models import Role, User
from carebridge.platform.db import Database
from carebridge.scheduling.models import Appointment
from tests.factories.directory import MakeDoctor
from tests.factories.reviews import Cast, MakeAppointment, MakeCast
from tests.factories.scheduling import written_appointment
from tests.factories.users import MakeUser, Person, TokenFor

_slots = itertools.count(1)


@pytest.fixture
def make_appointment(database: Database) -> MakeAppointment:
    """An appointment of ``patient`` with ``doctor``, a few days ago (each call another hour, so
    the no-double-booking constraints never fire)."""

    async def make(doctor: User, patient: User, status: str = "completed") -> Appointment:
        starts = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3, hours=next(_slots))
        completed_at = starts + timedelta(minutes=30) if status == "completed" else None
        appointment = written_appointment(doctor.id, patient.id, status, starts, completed_at)
        async with database.transaction() as db:
            db.add(appointment)
        return appointment

    return make


@pytest.fixture
def cast(
    make_doctor: MakeDoctor,
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
