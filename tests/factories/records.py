"""Factories for health record tests: reading bodies, and a patient's record with a clinician
on each basis of ``records/policy.py``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
from fastapi import FastAPI

from carebridge.accounts.models import User
from carebridge.platform.db import Database
from tests.factories.scheduling import written_appointment

Json = dict[str, Any]

# A private word a record's notes carry: it may appear in no answer to anyone not entitled.
RECORD_CANARY = "zqrecord-hepatitis-c-4e2d"


def observation_body(**overrides: Any) -> Json:
    values: Json = {"kind": "heart_rate", "value": 72, "note": f"after a walk {RECORD_CANARY}"}
    values.update(overrides)
    return values


async def add_observation(
    client: httpx.AsyncClient, headers: dict[str, str], **overrides: Any
) -> Json:
    answer = await client.post(
        "/api/v1/records/observations", json=observation_body(**overrides), headers=headers
    )
    assert answer.status_code == 201, answer.text
    result: Json = answer.json()
    return result


async def appointment_between(
    database: Database, doctor: User, patient: User, status: str, starts: datetime
) -> None:
    """An appointment written straight into the table (whatever the lifecycle allowed)."""
    async with database.transaction() as db:
        db.add(written_appointment(doctor.id, patient.id, status, starts))


def record_read_routes(app: FastAPI) -> list[str]:
    """Every clinician read route of a record (``GET /api/v1/patients/{patient_id}/records/...``
    without another path parameter), walked by the access matrix."""
    return sorted(
        path
        for path, operations in app.openapi()["paths"].items()
        if "get" in operations and path.startswith(CLINICIAN_PREFIX) and path.count("{") == 1
    )


CLINICIAN_PREFIX = "/api/v1/patients/{patient_id}/records/"
