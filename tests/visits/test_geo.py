"""The distance formula agrees with itself: PostgreSQL's evaluation of ``geo.distance_sql`` (what
the suggestions and claims rank and filter by) and Python's ``geo.distance_m`` (each live
position), over points across the globe, and both agree with known distances."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import select

from carebridge.platform.db import Database
from carebridge.visits.geo import distance_m, distance_sql, eta_minutes


async def test_sql_and_python_agree(database: Database) -> None:
    rng = random.Random(20)
    pairs = [
        (rng.uniform(-89, 89), rng.uniform(-179, 179), rng.uniform(-89, 89), rng.uniform(-179, 179))
        for _ in range(200)
    ]
    pairs += [(45.764, 4.8357, 45.764 + d, 4.8357 + d) for d in (0, 1e-6, 1e-4, 0.01, 0.5)]
    async with database.transaction() as db:
        for lat1, lng1, lat2, lng2 in pairs:
            in_sql = await db.scalar(select(distance_sql(lat1, lng1, lat2, lng2)))
            assert in_sql == pytest.approx(distance_m(lat1, lng1, lat2, lng2), rel=1e-9, abs=1e-6)


def test_known_distances() -> None:
    # Paris (Notre-Dame) to Lyon (Bellecour): about 392 km as the crow flies.
    assert distance_m(48.8530, 2.3499, 45.7578, 4.8320) == pytest.approx(392_000, rel=0.01)
    # One degree of latitude: about 111.2 km.
    assert distance_m(0, 0, 1, 0) == pytest.approx(111_195, rel=0.001)
    assert distance_m(10, 20, 10, 20) == 0


def test_estimates() -> None:
    assert eta_minutes(0, 30) == 0
    assert eta_minutes(10, 30) == 1
    assert eta_minutes(5000, 30) == 10  # 5 km at 30 km/h
