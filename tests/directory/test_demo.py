"""The demo directory: 40 verified doctors, patients and the nurse's profile, idempotently."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from carebridge.accounts.models import User
from carebridge.config import Settings
from carebridge.directory import demo
from carebridge.directory.models import DoctorProfile, NurseProfile, PatientProfile
from carebridge.platform.db import Database
from carebridge.seed import seed_demo


async def test_the_demo_lists_forty_verified_doctors_idempotently(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    first = await seed_demo(database, settings)
    second = await seed_demo(database, settings)
    assert set(second) >= {"accounts", "directory", "scheduling", "reviews"}
    assert set(second.values()) == {0}  # a second run adds nothing
    emails = [f"{d[0]}@{demo.DOMAIN}" for d in demo.DOCTORS]
    assert {"dr.rivera@demo.example.org", "dr.chen@demo.example.org"} <= set(emails)
    async with database.sessionmaker() as db:
        verified = await db.scalar(
            select(func.count())
            .select_from(DoctorProfile)
            .join(User, User.id == DoctorProfile.user_id)
            .where(User.email.in_(emails), DoctorProfile.verified_at.is_not(None))
        )
        patients = await db.scalar(
            select(func.count())
            .select_from(PatientProfile)
            .join(User, User.id == PatientProfile.user_id)
            .where(User.email.like(f"patient%@{demo.DOMAIN}"))
        )
        nurse = await db.scalar(
            select(func.count())
            .select_from(NurseProfile)
            .join(User, User.id == NurseProfile.user_id)
            .where(User.email == f"nurse.okafor@{demo.DOMAIN}")
        )
    assert (verified, patients, nurse) == (40, 10, 1)
    assert first["directory"] >= 0  # 0 when another test already seeded this database

    cardiology = (
        await client.get("/api/v1/doctors", params={"specialty": "cardiology", "limit": 50})
    ).json()["items"]
    assert "Dr. Sofia Rivera" in [d["name"] for d in cardiology]
    spanish = (await client.get("/api/v1/doctors", params={"q": "spanish cardio"})).json()
    assert spanish["items"][0]["name"] == "Dr. Sofia Rivera"
    assert "40 demo doctors" in demo.describe()
