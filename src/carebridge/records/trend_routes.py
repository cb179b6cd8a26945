"""Health record API: trends (a kind's series bucketed in the patient's time zone, the latest
values) and the health summary, for the patient and for a clinician who may read the record."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from carebridge.platform.deps import Scope, Session
from carebridge.platform.errors import Forbidden, Invalid, NotFound, Unauthenticated
from carebridge.platform.inputs import Instant
from carebridge.platform.problems import problem_responses
from carebridge.records import summary, trends
from carebridge.records.deps import OwnRecord, PatientRecord
from carebridge.records.trend_schemas import Bucket, HealthSummary, Latest, Series
from carebridge.records.vitals import Kind

router = APIRouter(tags=["records"])
_READ = problem_responses(Unauthenticated, Forbidden, NotFound, Invalid)


def _json(parts: tuple[Series, str]) -> Response:
    """A series as PostgreSQL built its points (a year of days is 365 of them)."""
    return Response(trends.series_bytes(*parts), media_type="application/json")


From = Annotated[Instant | None, Query(alias="from", description="Default: 30 days before `to`.")]
To = Annotated[Instant | None, Query(alias="to", description="Default: now (exclusive).")]


@router.get("/records/observations/series", response_model=Series, responses=_READ)
async def series(
    subject: OwnRecord,
    db: Session,
    scope: Scope,
    kind: Kind,
    since: From = None,
    until: To = None,
    bucket: Bucket = Bucket.day,
) -> Response:
    """Patient: one kind's readings from `from` to `to`, bucketed by `day`, `week` (ISO, from
    Monday) or `month` in your time zone: count, min, max and mean per bucket (and of the
    diastolic for a blood pressure), with the kind's ranges to shade. At most 800 buckets."""
    parts = await trends.series_parts(
        db, scope, subject, kind, since=since, until=until, bucket=bucket
    )
    return _json(parts)


@router.get(
    "/patients/{patient_id}/records/observations/series", response_model=Series, responses=_READ
)
async def patient_series(
    subject: PatientRecord,
    db: Session,
    scope: Scope,
    kind: Kind,
    since: From = None,
    until: To = None,
    bucket: Bucket = Bucket.day,
) -> Response:
    """Clinician: a patient's series, as `GET /records/observations/series` (audited)."""
    parts = await trends.series_parts(
        db, scope, subject, kind, since=since, until=until, bucket=bucket
    )
    return _json(parts)


@router.get("/records/observations/latest", response_model=Latest, responses=_READ)
async def latest(subject: OwnRecord, db: Session, scope: Scope) -> Latest:
    """Patient: your latest reading of each kind, and your BMI from the latest weight and
    height."""
    return await trends.latest(db, scope, subject)


@router.get(
    "/patients/{patient_id}/records/observations/latest", response_model=Latest, responses=_READ
)
async def patient_latest(subject: PatientRecord, db: Session, scope: Scope) -> Latest:
    """Clinician: a patient's latest readings (audited)."""
    return await trends.latest(db, scope, subject)


@router.get("/records/summary", response_model=HealthSummary, responses=_READ)
async def health_summary(subject: OwnRecord, db: Session, scope: Scope) -> HealthSummary:
    """Patient: your health summary over the last 14 days: a score from 0 to 100, the mean of
    the points of its components that have data (blood pressure, BMI, blood glucose, activity,
    medication adherence), each with its value, its points and the rule that scored it (the
    rules: docs/records.md). A component without enough data says so and is left out."""
    return await summary.summary(db, scope, subject)


@router.get("/patients/{patient_id}/records/summary", response_model=HealthSummary, responses=_READ)
async def patient_health_summary(
    subject: PatientRecord, db: Session, scope: Scope
) -> HealthSummary:
    """Clinician: a patient's health summary, as `GET /records/summary` (audited; medication
    adherence is `not_shared` when a grant does not cover the medications)."""
    return await summary.summary(db, scope, subject)
