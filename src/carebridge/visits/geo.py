"""Distances on the Earth, one formula in two forms: a SQL expression PostgreSQL evaluates (the
dispatcher's suggestions and claims rank and filter by it in the database) and the same formula
in Python (each live position's distance to the home, without a round trip). A test compares
them. The great-circle (haversine) distance on a sphere of the Earth's mean radius is within
0.5 % of the road-free truth, which is all an estimate needs; no geocoding or routing service is
involved.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import ColumnElement, Float, case, cast, func, literal

EARTH_RADIUS_M = 6_371_008.8  # the mean radius (IUGG)


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Metres between two points given in degrees."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    half_dphi = (phi2 - phi1) / 2
    half_dlambda = math.radians(lng2 - lng1) / 2
    a = math.sin(half_dphi) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(half_dlambda) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _value(value: Any) -> ColumnElement[float]:
    """A number as a float literal; a column (a mapped attribute too) or expression as it is."""
    if isinstance(value, int | float):
        return cast(literal(value), Float)
    expression: ColumnElement[float] = (
        value.__clause_element__() if hasattr(value, "__clause_element__") else value
    )
    return expression


def distance_sql(lat1: Any, lng1: Any, lat2: Any, lng2: Any) -> ColumnElement[float]:
    """The same distance as a SQL expression over columns or numbers."""
    phi1, phi2 = func.radians(_value(lat1)), func.radians(_value(lat2))
    half_dphi = (phi2 - phi1) / 2
    half_dlambda = func.radians(_value(lng2) - _value(lng1)) / 2
    a = func.power(func.sin(half_dphi), 2) + func.cos(phi1) * func.cos(phi2) * func.power(
        func.sin(half_dlambda), 2
    )
    # Not LEAST(1, ...): it skips NULLs, and a point missing a coordinate must give no distance.
    capped = case((a > 1.0, literal(1.0, Float)), else_=a)
    return 2 * EARTH_RADIUS_M * func.asin(func.sqrt(capped))


def eta_minutes(distance: float, speed_kmh: float) -> int:
    """Whole minutes to cover ``distance`` metres at ``speed_kmh`` (at least 1 until there)."""
    if distance <= 0:
        return 0
    return max(1, math.ceil(distance / (speed_kmh * 1000 / 60)))
