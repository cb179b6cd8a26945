"""Trends of the record: a kind's series bucketed by day, ISO week or month in the patient's time
zone (min, max, mean and count per bucket, computed by PostgreSQL), and the latest values with
the body mass index derived from the latest weight and height."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select, text
from sqlalchemy.dialects.postgresql import distinct_on
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


def series_select(
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
        .order_by(text("1"))
    )


def _span(
    since: datetime | None, until: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    until = until or now
    since = since or until - DEFAULT_SPAN
    if since >= until:
        raise Invalid("`from` must be before `to`.", code="empty_range")
    return since, until


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
    rows = await db.execute(series_select(subject.patient_id, kind, since, until, bucket, zone))
    local = ZoneInfo(zone)
    points = [_point(row, local, spec.precision) for row in rows]
    return Series(
        kind=kind,
        label=spec.label,
        unit=spec.unit.code,
        bucket=bucket,
        time_zone=zone,
        since=since,
        until=until,
        ranges=ranges_out(spec.ranges),
        second_ranges=None if spec.second is None else ranges_out(spec.second.ranges),
        points=points,
    )


def _point(row: Any, zone: ZoneInfo, precision: int) -> Point:
    # Built without validation: every value comes typed from the statement above, and a year of
    # days is 365 points (validating them was most of a series' CPU: bench/records.py).
    local_start: datetime = row.start
    keep = precision + 1
    return Point.model_construct(
        start=local_start.date(),
        starts_at=local_start.replace(tzinfo=zone).astimezone(UTC),
        count=row.count,
        min=row.min,
        max=row.max,
        mean=round(float(row.mean), keep),
        min2=row.min2,
        max2=row.max2,
        mean2=None if row.mean2 is None else round(float(row.mean2), keep),
    )


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
