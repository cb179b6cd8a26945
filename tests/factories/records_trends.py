"""Factories for the trends, summary and transfer tests: a patient's time zone, readings written
straight into the table (many at once), and a grant of some sections to a clinician."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import httpx
from sqlalchemy import update

from carebridge.accounts.models import User
from carebridge.platform.db import Database
from carebridge.records.models import Observation
from carebridge.records.vitals import SPECS, Kind
from tests.factories.users import Person


class Reading(NamedTuple):
    kind: Kind
    value: float
    measured_at: datetime
    value2: float | None = None


async def set_time_zone(database: Database, user_id: uuid.UUID, zone: str) -> None:
    async with database.transaction() as db:
        await db.execute(update(User).where(User.id == user_id).values(time_zone=zone))


async def write_readings(
    database: Database, patient_id: uuid.UUID, readings: Iterable[Reading], zone: str = "UTC"
) -> None:
    """Readings as they would be stored (canonical unit, flagged normal): the trends only read
    values and times."""
    async with database.transaction() as db:
        db.add_all(
            Observation(
                patient_id=patient_id,
                kind=r.kind.value,
                value=r.value,
                value2=r.value2,
                unit=SPECS[r.kind].unit.code,
                entered_unit=SPECS[r.kind].unit.code,
                flag="normal",
                measured_at=r.measured_at,
                time_zone=zone,
                source="patient",
                recorded_by_id=patient_id,
            )
            for r in readings
        )


async def share(
    client: httpx.AsyncClient, patient: Person, clinician: Person, sections: list[str]
) -> None:
    answer = await client.post(
        "/api/v1/records/grants",
        json={
            "grantee_id": str(clinician.user.id),
            "sections": sections,
            "expires_at": (datetime.now(UTC) + timedelta(days=7)).isoformat(),
        },
        headers=patient.headers,
    )
    assert answer.status_code == 201, answer.text
