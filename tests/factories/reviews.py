"""Helpers of the reviews tests: a doctor, a patient and an appointment between them (the
fixtures that make them are in tests/reviews/conftest.py), a review posted through the API, a
doctor's rating as stored."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal

import httpx
from sqlalchemy import select

from carebridge.accounts.models import User
from carebridge.directory.models import DoctorProfile
from carebridge.platform.db import Database
from carebridge.scheduling.models import Appointment
from tests.factories.users import Person

MakeAppointment = Callable[..., Awaitable[Appointment]]


@dataclass
class Cast:
    doctor: Person
    patient: Person
    appointment: Appointment


MakeCast = Callable[..., Awaitable[Cast]]


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
