"""Demo health record: the first demo patient (``patient@``) has two months of readings (blood
pressure and heart rate every morning, weight weekly, height once, glucose every other day, steps
and sleep daily: a slowly improving blood pressure), an allergy and a condition, so the record's
charts and summary have something to show.

Idempotent: a patient who has readings already gets nothing new. The values come from a seeded
generator (the same demo every time), pass through the same conversion, checks and flags as a
reading typed in.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.models import User
from carebridge.config import Settings
from carebridge.directory.demo import DOMAIN, PATIENTS
from carebridge.platform.context import CallScope
from carebridge.records.models import Allergy, Condition, Observation, Source
from carebridge.records.observations import measure, new_row
from carebridge.records.vitals import Kind

PATIENT = f"{PATIENTS[0][0]}@{DOMAIN}"
DAYS = 60


def _readings(day: int, rng: random.Random) -> list[tuple[Kind, float, float | None, time]]:
    """The readings of one day, ``day`` days into the two months."""
    trend = day / DAYS  # 0 → 1: the pressure comes down as the treatment works
    systolic = round(142 - 16 * trend + rng.gauss(0, 4))
    readings: list[tuple[Kind, float, float | None, time]] = [
        (Kind.blood_pressure, systolic, round(systolic * 0.63 + rng.gauss(0, 3)), time(7, 30)),
        (Kind.heart_rate, round(74 + rng.gauss(0, 5)), None, time(7, 31)),
        (Kind.steps, round(max(800, rng.gauss(6500 + 2500 * trend, 2200))), None, time(21, 0)),
        (Kind.sleep_hours, round(max(3.5, rng.gauss(7, 0.9)), 1), None, time(7, 0)),
    ]
    if day % 2 == 0:
        readings.append((Kind.blood_glucose, round(rng.gauss(112, 22)), None, time(8, 0)))
    if day % 7 == 0:
        readings.append(
            (Kind.body_weight, round(86.5 - 2 * trend + rng.gauss(0, 0.3), 1), None, time(7, 15))
        )
    if day == 0:
        readings.append((Kind.body_height, 178.0, None, time(7, 15)))
    return readings


def _rows(scope: CallScope, patient: User, today: date) -> list[Observation]:
    rng = random.Random(19)  # noqa: S311 -- made-up demo readings, the same every time
    zone = ZoneInfo(patient.time_zone)
    rows = []
    for day in range(DAYS):
        on = today - timedelta(days=DAYS - day)
        for kind, value, value2, at in _readings(day, rng):
            measured = measure(kind, value, value2, None)
            rows.append(
                new_row(
                    scope,
                    patient.id,
                    kind,
                    measured,
                    measured_at=datetime.combine(on, at, zone).astimezone(UTC),
                    time_zone=patient.time_zone,
                    source=Source.patient,
                    recorded_by_id=patient.id,
                    note=None,
                )
            )
    return rows


async def seed_demo(db: AsyncSession, settings: Settings) -> int:
    patient = await db.scalar(select(User).where(User.email == PATIENT))
    if patient is None:
        return 0
    has = await db.scalar(
        select(Observation.id).where(Observation.patient_id == patient.id).limit(1)
    )
    if has is not None:
        return 0
    scope = CallScope.system(settings)
    rows: list[object] = [*_rows(scope, patient, datetime.now(UTC).date())]
    rows.append(
        Allergy(
            id=uuid.uuid4(),
            patient_id=patient.id,
            substance="Penicillin",
            reaction="Hives",
            severity="moderate",
            recorded_by_id=patient.id,
        )
    )
    rows.append(
        Condition(
            id=uuid.uuid4(),
            patient_id=patient.id,
            name="High blood pressure",
            code="I10",
            status="active",
            onset_on=datetime.now(UTC).date() - timedelta(days=DAYS + 30),
            recorded_by_id=patient.id,
        )
    )
    db.add_all(rows)
    return len(rows)


def describe() -> str:
    return f"{PATIENT} has two months of readings in their health record (Health record)"
