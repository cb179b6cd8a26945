"""The demo's ratings come from reviews people can read: after seeding, every doctor's rating and
count are what their visible reviews give, and the doctor's page shows those reviews."""

from __future__ import annotations

import re
import uuid
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from carebridge.accounts.models import User
from carebridge.config import Settings
from carebridge.directory import demo
from carebridge.directory.models import DoctorProfile
from carebridge.platform.db import Database
from carebridge.platform.migrate import upgrade
from carebridge.reviews.models import Review
from carebridge.seed import seed_demo
from tests.factories.databases import fresh_database


def expected_rating(ratings: list[int]) -> tuple[float | None, int]:
    """What a doctor with these visible ratings shows: the mean to 2 decimals, and the count."""
    if not ratings:
        return None, 0
    mean = (Decimal(sum(ratings)) / len(ratings)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return float(mean), len(ratings)


async def public_reviews(client: httpx.AsyncClient, doctor_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    params: dict[str, str | int] = {"limit": 100}
    while True:
        page = await client.get(f"/api/v1/doctors/{doctor_id}/reviews", params=params)
        assert page.status_code == 200, page.text
        found += page.json()["items"]
        if page.json()["next_cursor"] is None:
            return found
        params["cursor"] = page.json()["next_cursor"]


async def listed_doctors(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    params: dict[str, str | int] = {"limit": 50, "sort": "name"}
    while True:
        page = (await client.get("/api/v1/doctors", params=params)).json()
        found += page["items"]
        if page["next_cursor"] is None:
            return found
        params["cursor"] = page["next_cursor"]


async def test_every_rating_is_what_the_visible_reviews_give(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    await seed_demo(database, settings)
    again = await seed_demo(database, settings)
    assert again["reviews"] == 0  # idempotent: a second run writes no review

    # Every doctor profile of the database, listed or not, from the rows themselves.
    async with database.sessionmaker() as db:
        profile = DoctorProfile
        profiles = (
            await db.execute(select(profile.user_id, profile.rating_average, profile.rating_count))
        ).all()
        visible = (
            await db.execute(
                select(Review.doctor_id, Review.rating).where(Review.hidden_at.is_(None))
            )
        ).all()
        demo_ids = {
            user_id
            for user_id, email in (await db.execute(select(User.id, User.email))).all()
            if email in {f"{row[0]}@{demo.DOMAIN}" for row in demo.DOCTORS}
        }
    ratings: dict[uuid.UUID, list[int]] = {}
    for doctor_id, rating in visible:
        ratings.setdefault(doctor_id, []).append(rating)
    for doctor_id, average, count in profiles:
        shown = (None if average is None else float(average), count)
        assert shown == expected_rating(ratings.get(doctor_id, [])), doctor_id
    assert len(demo_ids) == len(demo.DOCTORS)
    assert all(ratings.get(doctor_id) for doctor_id in demo_ids)  # each demo doctor is reviewed

    # What anyone reads: the listing's figures are those of the public reviews.
    doctors = await listed_doctors(client)
    assert {uuid.UUID(d["id"]) for d in doctors} >= demo_ids
    for doctor in doctors:
        readable = [r["rating"] for r in await public_reviews(client, doctor["id"])]
        shown = (doctor["rating_average"], doctor["rating_count"])
        assert shown == expected_rating(readable), doctor["name"]

    # The doctor's page shows the rating with the reviews it comes from.
    rivera = next(d for d in doctors if d["name"] == "Dr. Sofia Rivera")
    page = await client.get(f"/doctors/{rivera['id']}")
    assert page.status_code == 200
    count = rivera["rating_count"]
    assert f"from {count} review{'' if count == 1 else 's'}" in page.text
    assert 'id="no-reviews"' not in page.text
    assert len(re.findall(r'class="review" id="review-', page.text)) == min(count, 5)


async def test_the_migration_recomputes_ratings_set_without_reviews(
    postgres_server_url: str,
) -> None:
    """A database whose demo data set "4.8 from 54 reviews" with no review behind it."""
    with fresh_database(postgres_server_url) as url:
        engine = create_async_engine(make_url(url).set(drivername="postgresql+asyncpg"))
        try:
            await upgrade(engine, "0013_keyed_booking_hash")
            doctor = uuid.uuid4()
            async with engine.begin() as conn:  # written as the schema of 0013 is
                await conn.execute(
                    text(
                        "INSERT INTO users (id, email, name, role, status, password_hash) "
                        "VALUES (:id, 'dr@m.example', 'Dr. M', 'doctor', 'active', 'x')"
                    ),
                    {"id": doctor},
                )
                await conn.execute(
                    text(
                        "INSERT INTO doctor_profiles (user_id, bio, languages, time_zone, "
                        "rating_average, rating_count) VALUES (:id, '', '{}', 'UTC', 4.8, 54)"
                    ),
                    {"id": doctor},
                )
            await upgrade(engine)
            async with engine.connect() as conn:
                rating = (
                    await conn.execute(
                        text(
                            "SELECT rating_average, rating_count FROM doctor_profiles "
                            "WHERE user_id = :id"
                        ),
                        {"id": doctor},
                    )
                ).one()
            assert tuple(rating) == (None, 0)
        finally:
            await engine.dispose()
