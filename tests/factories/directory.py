"""Doctors with profiles, specialties and presence; a doctor's profile as the API takes it."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from carebridge.accounts.models import Role, User, UserStatus
from carebridge.directory.models import DoctorProfile
from carebridge.directory.service import set_specialties, specialty_ids
from carebridge.platform.db import Database
from carebridge.presence.models import DoctorPresence, presence_version
from tests.factories.users import MakeUser

MakeDoctor = Callable[..., Awaitable[User]]

DOCTOR = "/api/v1/doctors/me/profile"
GOOD_DOCTOR = {
    "specialties": ["cardiology", "internal-medicine"],
    "bio": "Heart rhythm problems and blood pressure.",
    "languages": ["en", "ES"],
    "years_of_experience": 12,
    "consultation_fee": 6000,
    "currency": "eur",
    "license_number": "DE-12345",
    "clinic_address": "Hauptstrasse 1, Berlin",
    "photo_url": "https://cdn.clinic.example/rivera.jpg",
    "time_zone": "Europe/Berlin",
}


def tag() -> str:
    """A word no other doctor has: tests find their own doctors with it, whatever else the
    database holds (the demo data of another test, for example)."""
    return "zq" + uuid.uuid4().hex[:10]


@pytest.fixture
def make_doctor(database: Database, make_user: MakeUser) -> MakeDoctor:
    return doctor_maker(database, make_user)


def doctor_maker(database: Database, make_user: MakeUser) -> MakeDoctor:
    """``make_doctor`` over any database (a live server's too)."""

    async def make(
        name: str | None = None,
        *,
        specialties: Sequence[str] = (),
        bio: str = "",
        languages: Sequence[str] = ("en",),
        fee: int | None = None,
        rating: float | None = None,
        verified: bool = True,
        status: UserStatus = UserStatus.active,
        presence: str | None = None,
        license_number: str | None = "LIC-0001",
    ) -> User:
        user = await make_user(Role.doctor, status)
        async with database.transaction() as db:
            if name is not None:
                await db.execute(update(User).where(User.id == user.id).values(name=name))
                user.name = name
            db.add(
                DoctorProfile(
                    user_id=user.id,
                    bio=bio,
                    languages=list(languages),
                    consultation_fee=fee,
                    license_number=license_number,
                    rating_average=None if rating is None else Decimal(str(rating)),
                    verified_at=datetime.now(UTC) if verified else None,
                )
            )
            await db.flush()
            await set_specialties(db, user.id, await specialty_ids(db, list(specialties)))
            if presence is not None:
                version = await db.scalar(select(presence_version.next_value()))
                db.add(DoctorPresence(doctor_id=user.id, status=presence, version=version))
        return user

    return make
