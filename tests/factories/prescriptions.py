"""Factories for prescriptions tests: a consultation (an appointment written straight into the
table with the status a test needs) between a doctor and a patient who each have bearer headers,
and a draft or issued prescription written through the API."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from carebridge.accounts.models import Role
from carebridge.config import Settings
from carebridge.platform.db import Database
from carebridge.platform.jobs import job_app
from carebridge.prescriptions import documents
from carebridge.scheduling.models import Appointment
from tests.factories.directory import MakeDoctor
from tests.factories.scheduling import written_appointment
from tests.factories.users import MakeUser, Person, TokenFor

_hours = itertools.count(1)

CANARY = "zqcanary-pneumonia-7f3a"


@dataclass
class Consultation:
    appointment: Appointment
    doctor: Person
    patient: Person


MakeConsultation = Callable[..., Awaitable[Consultation]]
Json = dict[str, Any]


def body(**overrides: Any) -> Json:
    values: Json = {
        "diagnosis": f"Community-acquired {CANARY}",
        "notes": "Review in one week.",
        "lines": [
            {
                "name": "Amoxicillin",
                "strength": "500 mg",
                "dose": "1 capsule",
                "route": "oral",
                "frequency": "three times a day",
                "duration": "7 days",
                "quantity": "21 capsules",
                "refills": 0,
                "instructions": "Take with food.",
            },
            {"name": "Paracetamol", "strength": "500 mg", "dose": "2 tablets", "refills": 1},
        ],
    }
    values.update(overrides)
    return values


@pytest.fixture
async def cleanup_jobs(client: httpx.AsyncClient) -> AsyncIterator[None]:
    """Jobs are deferred on the job queue's own connection (committed outside the test's
    transaction): emptied afterwards."""
    yield
    await job_app.connector.execute_query_async(
        "DELETE FROM procrastinate_jobs WHERE queue_name IN ('prescriptions', 'notifications')"
    )


@pytest.fixture
def person(make_user: MakeUser, token_for: TokenFor) -> Callable[..., Awaitable[Person]]:
    async def make(role: Role = Role.patient) -> Person:
        user = await make_user(role)
        return Person(user, await token_for(user))

    return make


@pytest.fixture
def consultation(
    database: Database,
    make_doctor: MakeDoctor,
    make_user: MakeUser,
    token_for: TokenFor,
    cleanup_jobs: None,
) -> MakeConsultation:
    """An appointment of a new patient with a new (or the given) doctor, a few hours ago."""

    async def make(status: str = "in_progress", doctor: Person | None = None) -> Consultation:
        if doctor is None:
            user = await make_doctor(f"Dr Greta {uuid.uuid4().hex[:4]}", license_number="MD-4242")
            doctor = Person(user, await token_for(user))
        patient = await make_user(Role.patient)
        starts = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=next(_hours))
        appointment = written_appointment(doctor.user.id, patient.id, status, starts)
        async with database.transaction() as db:
            db.add(appointment)
        return Consultation(appointment, doctor, Person(patient, await token_for(patient)))

    return make


@pytest.fixture
def write(client: httpx.AsyncClient) -> Callable[..., Awaitable[Json]]:
    async def make(visit: Consultation, **overrides: Any) -> Json:
        answer = await client.post(
            f"/api/v1/appointments/{visit.appointment.id}/prescriptions",
            json=body(**overrides),
            headers=visit.doctor.headers,
        )
        assert answer.status_code == 201, answer.text
        result: Json = answer.json()
        return result

    return make


@pytest.fixture
def issued(
    client: httpx.AsyncClient,
    write: Callable[..., Awaitable[Json]],
    settings: Settings,
    database: Database,
) -> Callable[..., Awaitable[Json]]:
    """An issued prescription, its PDF rendered by the job's body (``render=False``: pending)."""

    async def make(visit: Consultation, *, render: bool = True, **overrides: Any) -> Json:
        draft = await write(visit, **overrides)
        answer = await client.post(
            f"/api/v1/prescriptions/{draft['id']}/issue", headers=visit.doctor.headers
        )
        assert answer.status_code == 200, answer.text
        if render:
            assert await documents.render_and_store(database, settings, uuid.UUID(draft["id"]))
        result: Json = answer.json()
        return result

    return make
