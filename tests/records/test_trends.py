"""Trends: a kind's series bucketed by day, ISO week and month in the patient's time zone, and
the latest values with the BMI.

The acceptance check: buckets computed in the patient's time zone match a reference computed in
Python (``zoneinfo``) over the same generated data, across DST changes and month and ISO-week
boundaries, in zones with DST in either hemisphere and with a half-hour offset."""

from __future__ import annotations

import random
import statistics
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from carebridge.accounts.models import Role
from carebridge.compliance.models import AuditEvent
from carebridge.platform.db import Database
from carebridge.records.vitals import SPECS, Kind
from tests.factories.prescriptions import MakeConsultation
from tests.factories.records import add_observation
from tests.factories.records_trends import Reading, set_time_zone, share, write_readings
from tests.factories.users import Person

MakePerson = Callable[..., Awaitable[Person]]
SINCE = datetime(2025, 1, 1, tzinfo=UTC)
UNTIL = datetime(2026, 2, 1, tzinfo=UTC)
# Local days on which something changes: DST (both hemispheres), months, ISO weeks, the year.
EDGES = [
    date(2025, 3, 9), date(2025, 3, 10), date(2025, 11, 2), date(2025, 11, 3),
    date(2025, 4, 6), date(2025, 4, 7), date(2025, 9, 28), date(2025, 9, 29),
    date(2025, 2, 1), date(2025, 3, 1), date(2025, 6, 30), date(2025, 7, 1), date(2025, 12, 29),
    date(2026, 1, 1), date(2025, 1, 1), date(2025, 12, 1),
]  # fmt: skip


def generated(zone: str, kind: Kind, seed: int) -> list[Reading]:
    """A few hundred readings: random instants of the range, and instants just before and after
    local midnight of every edge day."""
    rng = random.Random(seed)
    span = int((UNTIL - SINCE).total_seconds())
    instants = [SINCE + timedelta(seconds=rng.randrange(span)) for _ in range(300)]
    tz = ZoneInfo(zone)
    for day in EDGES:
        midnight = datetime(day.year, day.month, day.day, tzinfo=tz)
        instants += [midnight + timedelta(seconds=30), midnight - timedelta(seconds=30)]
        instants.append(midnight + timedelta(hours=rng.randrange(1, 23)))
    readings = []
    for at in instants:
        if kind == Kind.blood_pressure:
            systolic = rng.randint(95, 175)
            readings.append(Reading(kind, systolic, at, rng.randint(55, systolic - 20)))
        else:
            readings.append(Reading(kind, round(rng.uniform(50, 120), 2), at))
    return readings


def bucket_start(local: datetime, bucket: str) -> date:
    day = local.date()
    if bucket == "week":
        return day - timedelta(days=day.weekday())
    if bucket == "month":
        return day.replace(day=1)
    return day


def reference(readings: list[Reading], zone: str, bucket: str, keep: int) -> list[dict[str, Any]]:
    """The series in plain Python: group by the local bucket, then count, min, max, mean."""
    tz = ZoneInfo(zone)
    groups: dict[date, list[Reading]] = defaultdict(list)
    for r in readings:
        if SINCE <= r.measured_at < UNTIL:
            groups[bucket_start(r.measured_at.astimezone(tz), bucket)].append(r)
    points = []
    for start, rows in sorted(groups.items()):
        values = [r.value for r in rows]
        second = [r.value2 for r in rows if r.value2 is not None]
        points.append(
            {
                "start": start.isoformat(),
                "starts_at": datetime(start.year, start.month, start.day, tzinfo=tz),
                "count": len(rows),
                "min": min(values),
                "max": max(values),
                "mean": round(statistics.fmean(values), keep),
                "min2": min(second) if second else None,
                "max2": max(second) if second else None,
                "mean2": round(statistics.fmean(second), keep) if second else None,
            }
        )
    return points


def comparable(point: dict[str, Any], keep: int) -> dict[str, Any]:
    shown = dict(point)
    shown["starts_at"] = datetime.fromisoformat(point["starts_at"])
    for name in ("mean", "mean2"):
        if shown[name] is not None:
            shown[name] = pytest.approx(shown[name], abs=1.01 * 10**-keep)
    return shown


def series_path(kind: Kind, bucket: str, prefix: str = "/api/v1/records") -> str:
    return (
        f"{prefix}/observations/series?kind={kind.value}&bucket={bucket}"
        f"&from={SINCE.isoformat().replace('+', '%2B')}&to={UNTIL.isoformat().replace('+', '%2B')}"
    )


class TestRefused:
    async def test_anonymous_wrong_role_and_someone_else(
        self, client: httpx.AsyncClient, person: MakePerson
    ) -> None:
        patient, doctor = await person(Role.patient), await person(Role.doctor)
        other = f"/api/v1/patients/{patient.user.id}/records"
        own_paths = [
            "/api/v1/records/observations/series?kind=heart_rate",
            "/api/v1/records/observations/latest",
        ]
        clinician_paths = [
            f"{other}/observations/series?kind=heart_rate",
            f"{other}/observations/latest",
        ]
        for path in own_paths + clinician_paths:
            assert (await client.get(path)).status_code == 401, path
        for path in own_paths:
            answer = await client.get(path, headers=doctor.headers)
            assert answer.status_code == 403, path
        for path in clinician_paths:
            assert (await client.get(path, headers=patient.headers)).status_code == 403, path
            answer = await client.get(path, headers=doctor.headers)  # no basis: no record
            assert answer.status_code == 404, path

    async def test_a_grant_without_observations_finds_no_series(
        self, client: httpx.AsyncClient, person: MakePerson
    ) -> None:
        patient, nurse = await person(Role.patient), await person(Role.nurse)
        await share(client, patient, nurse, ["medications", "allergies"])
        base = f"/api/v1/patients/{patient.user.id}/records/observations"
        for path in (f"{base}/series?kind=heart_rate", f"{base}/latest"):
            answer = await client.get(path, headers=nurse.headers)
            assert answer.status_code == 404, path
            assert answer.json()["code"] == "not_found"


class TestSeriesMatchesTheReference:
    @pytest.mark.parametrize(
        ("zone", "kind"),
        [
            ("America/New_York", Kind.body_weight),
            ("Pacific/Auckland", Kind.blood_pressure),
            ("Asia/Kolkata", Kind.body_weight),
        ],
    )
    async def test_every_bucket_of_every_size(
        self,
        client: httpx.AsyncClient,
        person: MakePerson,
        database: Database,
        zone: str,
        kind: Kind,
    ) -> None:
        patient = await person(Role.patient)
        await set_time_zone(database, patient.user.id, zone)
        readings = generated(zone, kind, seed=len(zone))
        await write_readings(database, patient.user.id, readings, zone)
        # Someone else's readings of the same kind and time are not in the series.
        stranger = await person(Role.patient)
        await write_readings(database, stranger.user.id, readings[:50])
        keep = SPECS[kind].precision + 1
        for bucket in ("day", "week", "month"):
            answer = await client.get(series_path(kind, bucket), headers=patient.headers)
            assert answer.status_code == 200, answer.text
            series = answer.json()
            assert series["time_zone"] == zone
            expected = reference(readings, zone, bucket, keep)
            assert len(series["points"]) == len(expected) > 0
            assert [comparable(p, keep) for p in series["points"]] == expected, bucket
            assert sum(p["count"] for p in series["points"]) == sum(
                SINCE <= r.measured_at < UNTIL for r in readings
            )


class TestSeries:
    async def test_too_many_buckets_is_refused(
        self, client: httpx.AsyncClient, person: MakePerson
    ) -> None:
        patient = await person(Role.patient)
        path = (
            "/api/v1/records/observations/series?kind=heart_rate&bucket=day"
            "&from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z"
        )
        answer = await client.get(path, headers=patient.headers)
        assert answer.status_code == 422
        assert answer.json()["code"] == "too_many_buckets"
        monthly = path.replace("bucket=day", "bucket=month")
        assert (await client.get(monthly, headers=patient.headers)).status_code == 200

    async def test_a_clinicians_read_is_audited(
        self, client: httpx.AsyncClient, consultation: MakeConsultation, database: Database
    ) -> None:
        visit = await consultation()
        await add_observation(client, visit.patient.headers, value=64)
        path = f"/api/v1/patients/{visit.patient.user.id}/records/observations/series"
        answer = await client.get(f"{path}?kind=heart_rate", headers=visit.doctor.headers)
        assert answer.status_code == 200, answer.text
        ((point),) = answer.json()["points"]
        assert (point["count"], point["min"], point["mean"]) == (1, 64, 64)
        async with database.transaction() as db:
            reads = (
                await db.scalars(
                    select(AuditEvent).where(
                        AuditEvent.resource_id == str(visit.patient.user.id),
                        AuditEvent.action == "record.read",
                    )
                )
            ).all()
        assert [(e.actor_id, e.details["section"], e.details["kind"]) for e in reads] == [
            (visit.doctor.user.id, "observations", "heart_rate")
        ]
        assert reads[0].details["basis"] == "care"
        # The patient's own reads are not on the trail.
        await client.get(
            "/api/v1/records/observations/series?kind=heart_rate", headers=visit.patient.headers
        )
        async with database.transaction() as db:
            count = len(
                (
                    await db.scalars(
                        select(AuditEvent).where(
                            AuditEvent.action == "record.read",
                            AuditEvent.resource_id == str(visit.patient.user.id),
                        )
                    )
                ).all()
            )
        assert count == 1


class TestLatest:
    async def test_the_latest_of_each_kind_and_the_bmi(
        self, client: httpx.AsyncClient, person: MakePerson
    ) -> None:
        patient = await person(Role.patient)
        headers = patient.headers
        old = (datetime.now(UTC) - timedelta(days=3)).isoformat()
        await add_observation(client, headers, kind="body_weight", value=90, measured_at=old)
        await add_observation(client, headers, kind="body_weight", value=154.32, unit="[lb_av]")
        await add_observation(client, headers, kind="body_height", value=1.75, unit="m")
        answer = await client.get("/api/v1/records/observations/latest", headers=headers)
        assert answer.status_code == 200, answer.text
        latest = answer.json()
        by_kind = {item["kind"]: item for item in latest["items"]}
        assert set(by_kind) == {"body_weight", "body_height"}
        assert by_kind["body_weight"]["value"] == 70.0  # 154.32 lb
        assert by_kind["body_height"]["value"] == 175.0
        assert latest["bmi"] == 22.9  # 70 / 1.75²
        assert latest["bmi_flag"] == "normal"

    async def test_no_height_no_bmi(self, client: httpx.AsyncClient, person: MakePerson) -> None:
        patient = await person(Role.patient)
        await add_observation(client, patient.headers, kind="body_weight", value=70)
        latest = (
            await client.get("/api/v1/records/observations/latest", headers=patient.headers)
        ).json()
        assert (latest["bmi"], latest["bmi_flag"]) == (None, None)
