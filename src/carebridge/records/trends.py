"""Trends of the record: a kind's series bucketed by day, ISO week or month in the patient's time
zone (min, max, mean and count per bucket, computed by PostgreSQL), and the latest values with
the body mass index derived from the latest weight and height."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import Date, Numeric, Select, Text, cast, func, literal_column, select, text
from sqlalchemy.dialects.postgresql import aggregate_order_by, distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.service import time_zone_of
from carebridge.platform.context import CallScope
from carebridge.platform.errors import Invalid
from carebridge.records import access
from carebridge.records.catalog import ranges_out
from carebridge.records.models import Observation, Section
from carebridge.records.observations import out
from carebridge.records.policy import Subject
from carebridge.records.trend_schemas import Bucket, Latest, Point, Series
from carebridge.records.vitals import SPECS, Kind, bmi

# A series answers at most this many buckets (a year of days is 366; ten years of months 120).
MAX_BUCKETS = 800
_BUCKET_DAYS = {Bucket.day: 1, Bucket.week: 7, Bucket.month: 28}
DEFAULT_SPAN = timedelta(days=30)


def bucket_select(
    patient_id: Any, kind: Kind, since: datetime, until: datetime, bucket: Bucket, zone: str
) -> Select[Any]:
    """One row per bucket with readings: its local start, count, min, max and mean of both
    values. The rule (which rows, which local bucket) of the series, one place."""
    local = func.timezone(zone, Observation.measured_at)
    start = func.date_trunc(bucket.value, local).label("start")
    return (
        select(
            start,
            func.count().label("count"),
            func.min(Observation.value).label("min"),
            func.max(Observation.value).label("max"),
            func.avg(Observation.value).label("mean"),
            func.min(Observation.value2).label("min2"),
            func.max(Observation.value2).label("max2"),
            func.avg(Observation.value2).label("mean2"),
        )
        .where(
            Observation.patient_id == patient_id,
            Observation.kind == kind.value,
            Observation.measured_at >= since,
            Observation.measured_at < until,
        )
        .group_by(text("1"))
    )


def series_select(
    patient_id: Any,
    kind: Kind,
    since: datetime,
    until: datetime,
    bucket: Bucket,
    zone: str,
) -> Select[Any]:
    """The series' points (``Point``) as one JSON array, oldest bucket first, built by PostgreSQL
    from :func:`bucket_select`: a year of days is 365 points, and building them as Python objects
    was most of a series' CPU (bench/records.py). Means are rounded one decimal past the kind's
    precision; ``starts_at`` is the instant the bucket's first local day began."""
    rows = bucket_select(patient_id, kind, since, until, bucket, zone).subquery("buckets")
    keep = SPECS[kind].precision + 1

    def rounded(column: Any) -> Any:
        return func.round(cast(column, Numeric), keep)

    began = func.timezone("UTC", func.timezone(zone, rows.c.start))
    point = func.json_build_object(
        "start",
        cast(rows.c.start, Date),
        "starts_at",
        func.to_char(began, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        "count",
        rows.c.count,
        "min",
        rows.c.min,
        "max",
        rows.c.max,
        "mean",
        rounded(rows.c.mean),
        "min2",
        rows.c.min2,
        "max2",
        rows.c.max2,
        "mean2",
        rounded(rows.c.mean2),
    )
    points = func.json_agg(aggregate_order_by(point, rows.c.start))
    return select(cast(func.coalesce(points, literal_column("'[]'::json")), Text))


def _span(
    since: datetime | None, until: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    until = until or now
    since = since or until - DEFAULT_SPAN
    if since >= until:
        raise Invalid("`from` must be before `to`.", code="empty_range")
    return since, until


async def series_parts(
    db: AsyncSession,
    scope: CallScope,
    subject: Subject,
    kind: Kind,
    *,
    since: datetime | None,
    until: datetime | None,
    bucket: Bucket,
    now: datetime | None = None,
) -> tuple[Series, str]:
    """A series without its points, and its points as PostgreSQL wrote them (a JSON array):
    the API sends them as they are (:func:`series_bytes`)."""
    since, until = _span(since, until, now or datetime.now(UTC))
    if (until - since) / timedelta(days=_BUCKET_DAYS[bucket]) > MAX_BUCKETS:
        raise Invalid(
            f"At most {MAX_BUCKETS} {bucket.value}s at once: shorten the range or use a larger "
            "bucket.",
            code="too_many_buckets",
        )
    spec = SPECS[kind]
    if spec.derived:
        raise Invalid(
            f"{spec.label} has no series of its own: see its weight.", code="derived_kind"
        )
    await access.check_read(db, scope, subject, Section.observations, kind=kind.value)
    zone = await time_zone_of(db, subject.patient_id)
    points: str = (
        await db.scalar(series_select(subject.patient_id, kind, since, until, bucket, zone)) or "[]"
    )
    header = Series(
        kind=kind,
        label=spec.label,
        unit=spec.unit.code,
        bucket=bucket,
        time_zone=zone,
        since=since,
        until=until,
        ranges=ranges_out(spec.ranges),
        second_ranges=None if spec.second is None else ranges_out(spec.second.ranges),
        points=[],
    )
    return header, points


def series_bytes(header: Series, points: str) -> bytes:
    """The JSON of a series from its parts (``points`` is its last field)."""
    head = header.model_dump_json(exclude={"points"})
    return f'{head[:-1]},"points":{points}}}'.encode()


_POINTS = TypeAdapter(list[Point])


async def series(
    db: AsyncSession,
    scope: CallScope,
    subject: Subject,
    kind: Kind,
    *,
    since: datetime | None,
    until: datetime | None,
    bucket: Bucket,
    now: datetime | None = None,
) -> Series:
    """A kind's series bucketed in the patient's time zone (the pages draw it)."""
    header, points = await series_parts(
        db, scope, subject, kind, since=since, until=until, bucket=bucket, now=now
    )
    return header.model_copy(update={"points": _POINTS.validate_json(points)})


def latest_select(patient_id: Any) -> Select[Any]:
    """The latest reading of each kind of the patient."""
    return (
        select(Observation)
        .where(Observation.patient_id == patient_id)
        .ext(distinct_on(Observation.kind))
        .order_by(Observation.kind, Observation.measured_at.desc(), Observation.id.desc())
    )


async def latest(db: AsyncSession, scope: CallScope, subject: Subject) -> Latest:
    await access.check_read(db, scope, subject, Section.observations, view="latest")
    rows = list(await db.scalars(latest_select(subject.patient_id)))
    by_kind = {row.kind: row for row in rows}
    weight, height = by_kind.get(Kind.body_weight.value), by_kind.get(Kind.body_height.value)
    index = None if weight is None or height is None else bmi(weight.value, height.value)
    return Latest(
        items=[
            out(scope, row) for row in sorted(rows, key=lambda r: list(SPECS).index(Kind(r.kind)))
        ],
        bmi=index,
        bmi_flag=None if index is None else SPECS[Kind.bmi].ranges.flag(index),
    )
