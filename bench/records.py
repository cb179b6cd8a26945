"""Health record trends: a year's series and the health summary under constant-rate load, and
the CSV import's rows per second.

Data: BENCH_PATIENTS (default 1,000) patients in a few time zones, each with BENCH_DAYS (365)
daily readings of six kinds (blood pressure, heart rate, weight, blood glucose, steps, sleep) and
a height: 2.2 M observations by default, generated inside PostgreSQL (``INSERT ... SELECT
generate_series``) in a database the benchmark creates and drops; then ``VACUUM ANALYZE``, the
index loaded into shared buffers (``pg_prewarm``, where the server has it) and a ``CHECKPOINT``
(the series reads its covering index alone). Patients are signed in beforehand (sessions and access
tokens made in the database, so sign-in is not measured).

Load (the open-loop generator of ``bench/doctors_list.py``: requests leave on a fixed schedule
whatever the answers, latency counted from when each was due), at each of BENCH_RATES (default
"200,400") requests a second for BENCH_SECONDS (10), one endpoint at a time, each request a
random patient (and a random kind for a series):

- ``carebridge``: a real ``carebridge serve --workers BENCH_WORKERS`` (2): a year's series
  (``bucket=day``, 365 points; ``bucket=week``) as the patient, and ``GET /records/summary``;
- ``floor``: a bare Starlette + asyncpg app under the same uvicorn settings that runs the series'
  own SQL (``trends.series_select`` compiled once: one source; PostgreSQL writes the points'
  JSON) for the same patients and sends it: no authentication, no session, no audit, no
  response model. What this machine allows for a series' database work.

The ratio of CareBridge's p50/p99 to the floor's is printed per rate. Last, a file of
BENCH_IMPORT_ROWS (20,000) rows is imported through ``POST /records/import``: rows per second.

Environment: CAREBRIDGE_DATABASE_URL (a server to create the bench database on; else an embedded
PostgreSQL in a temporary folder), BENCH_PATIENTS, BENCH_DAYS, BENCH_RATES, BENCH_SECONDS,
BENCH_WORKERS, BENCH_IMPORT_ROWS, BENCH_JSON (a file to write the report to).
Target (docs/performance.md): series p99 <= 50 ms at 200 requests/s.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

import asyncpg
import httpx
import psycopg
import uvloop
from sqlalchemy.dialects import postgresql

from bench.doctors_list import Result, bench_database, free_port, load, server
from carebridge.config import Settings, load_settings
from carebridge.platform.logging import configure_logging
from carebridge.records.trend_schemas import Bucket
from carebridge.records.trends import series_select
from carebridge.records.vitals import Kind

ZONES = ["America/New_York", "Europe/Berlin", "Asia/Kolkata", "Pacific/Auckland", "UTC"]
KINDS = [
    # kind, unit, base, spread (uniform), precision
    (Kind.blood_pressure, "mm[Hg]", 105, 40, 0),
    (Kind.heart_rate, "/min", 55, 40, 0),
    (Kind.body_weight, "kg", 60, 40, 2),
    (Kind.blood_glucose, "mg/dL", 70, 120, 0),
    (Kind.steps, "{steps}/d", 2000, 12000, 0),
    (Kind.sleep_hours, "h", 5, 4, 1),
]
SERIES_KINDS = [kind for kind, *_ in KINDS]

PATIENTS_SQL = """
INSERT INTO users (email, name, role, status, password_hash, time_zone)
SELECT 'bench-pt-' || g || '@bench.example.org', 'Patient ' || g, 'patient', 'active',
       'not-a-password', (%(zones)s::text[])[1 + g %% %(zone_count)s]
FROM generate_series(1, %(patients)s) AS g
"""

# Generated rows of users just made: the foreign key checks are skipped (replica role).
OBSERVATIONS_SQL = """
INSERT INTO record_observations (patient_id, kind, value, value2, unit, entered_unit, flag,
                                 measured_at, time_zone, source, recorded_by_id)
SELECT u.id, k.kind, round((k.base + k.spread * random())::numeric, k.precision)::float8,
       CASE WHEN k.kind = 'blood_pressure' THEN round(60 + 25 * random()) END,
       k.unit, k.unit, 'normal',
       %(until)s - d * interval '1 day' + random() * interval '12 hours', u.time_zone,
       'patient', u.id
FROM users u
CROSS JOIN json_to_recordset(%(kinds)s::json)
     AS k(kind text, unit text, base float8, spread float8, precision int)
CROSS JOIN generate_series(1, %(days)s) AS d
WHERE u.email LIKE 'bench-pt-%%'
"""

HEIGHTS_SQL = """
INSERT INTO record_observations (patient_id, kind, value, unit, entered_unit, flag, measured_at,
                                 time_zone, source, recorded_by_id)
SELECT u.id, 'body_height', round((150 + 40 * random())::numeric, 1)::float8, 'cm', 'cm',
       'normal', %(until)s - interval '300 days', u.time_zone, 'patient', u.id
FROM users u WHERE u.email LIKE 'bench-pt-%%'
"""


def generate(url: str, patients: int, days: int, until: datetime) -> int:
    """The patients and their readings, made by PostgreSQL; the number of observations."""
    kinds = [
        {"kind": k.value, "unit": u, "base": b, "spread": s, "precision": p}
        for k, u, b, s, p in KINDS
    ]
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            PATIENTS_SQL,
            {"zones": ZONES, "zone_count": len(ZONES), "patients": patients},
        )
        conn.execute("DROP INDEX ix_record_observations_series")
        with conn.transaction():
            conn.execute("SET LOCAL session_replication_role = replica")
            params = {"until": until, "days": days, "kinds": json.dumps(kinds)}
            conn.execute(OBSERVATIONS_SQL, params)
            conn.execute(HEIGHTS_SQL, {"until": until})
        conn.execute(
            "CREATE INDEX ix_record_observations_series ON record_observations "
            "(patient_id, kind, measured_at) INCLUDE (value, value2)"
        )
        conn.execute("VACUUM ANALYZE record_observations")
        # Both sides start warm and unhindered: the data in shared buffers (whoever runs first
        # would otherwise read it from disk for the other), and the load's dirty pages written.
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
            conn.execute("SELECT pg_prewarm('ix_record_observations_series')")
        except psycopg.Error as error:  # a server without the contrib modules
            print(f"pg_prewarm not available ({error}): the first step starts colder", flush=True)
        conn.execute("CHECKPOINT")
        rows = conn.execute("SELECT count(*) FROM record_observations").fetchone()
    count = int(rows[0]) if rows else 0
    print(f"generated {count:,} observations in {time.perf_counter() - started:.0f} s", flush=True)
    return count


async def sign_in(settings: Settings) -> list[tuple[str, str, str]]:
    """(patient id, time zone, access token) of every generated patient."""
    from sqlalchemy import select

    from carebridge.accounts.models import User
    from carebridge.accounts.service import start_session
    from carebridge.accounts.tokens import KeyStore
    from carebridge.platform.context import SYSTEM
    from carebridge.platform.db import Database

    database = Database.from_settings(settings)
    keys = KeyStore(settings)
    signed = []
    async with database.transaction() as db:
        users = list(await db.scalars(select(User).where(User.email.like("bench-pt-%"))))
        for user in users:
            token = (await start_session(db, keys, user, SYSTEM)).access_token
            signed.append((str(user.id), user.time_zone, token))
    await database.dispose()
    return signed


async def migrate(settings: Settings) -> None:
    from carebridge.platform.db import Database
    from carebridge.platform.migrate import upgrade

    database = Database.from_settings(settings)
    await upgrade(database.engine)
    await database.dispose()


# -- requests -------------------------------------------------------------------------------------


def _get(port: int, path: str, token: str | None = None) -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}\r\n".encode()


def _instant(at: datetime) -> str:
    return quote(at.isoformat())


def requests_for(
    endpoint: str,
    port: int,
    patients: list[tuple[str, str, str]],
    span: tuple[datetime, datetime],
    *,
    floor: bool,
    count: int = 2000,
    seed: int = 7,
) -> list[bytes]:
    """``count`` requests of ``endpoint`` (``series_day``, ``series_week``, ``summary``), each
    for a random patient (and kind); the floor's carry the patient and zone in the URL."""
    rng = random.Random(seed)
    since, until = (_instant(at) for at in span)
    made = []
    for _ in range(count):
        patient, zone, token = rng.choice(patients)
        if endpoint == "summary":
            made.append(_get(port, "/api/v1/records/summary", token))
            continue
        bucket = endpoint.removeprefix("series_")
        kind = rng.choice(SERIES_KINDS).value
        query = f"kind={kind}&bucket={bucket}&from={since}&to={until}"
        if floor:
            made.append(_get(port, f"/series?{query}&patient={patient}&zone={quote(zone)}"))
        else:
            made.append(_get(port, f"/api/v1/records/observations/series?{query}", token))
    return made


# -- the floor: bare Starlette + asyncpg, the series' own SQL -------------------------------------

_SENTINELS = {
    "patient": uuid.UUID(int=1),
    "kind": "bench-kind",
    "since": datetime(1970, 1, 2, tzinfo=UTC),
    "until": datetime(1970, 1, 3, tzinfo=UTC),
    "zone": "bench-zone",
}


def compiled_series(bucket: Bucket) -> tuple[str, list[str | Any]]:
    """The series statement as asyncpg runs it, and for each of its parameters either the name
    of the request's value it takes or a constant (the bucket's unit)."""
    statement = series_select(
        _SENTINELS["patient"],
        Kind.heart_rate,
        _SENTINELS["since"],
        _SENTINELS["until"],
        bucket,
        str(_SENTINELS["zone"]),
    )
    compiled = statement.compile(dialect=postgresql.asyncpg.dialect())  # type: ignore[attr-defined]
    values = compiled.construct_params()
    by_value = {repr(v): name for name, v in _SENTINELS.items()}
    by_value[repr(Kind.heart_rate.value)] = "kind"
    params = [
        by_value.get(repr(values[name]), ("const", values[name]))
        for name in compiled.positiontup or []
    ]
    return str(compiled), params


def floor_app() -> Any:
    """``uvicorn --factory bench.records:floor_app``."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    statements = {bucket.value: compiled_series(bucket) for bucket in Bucket}
    state: dict[str, Any] = {}

    async def series(request: Request) -> Response:
        query = dict(parse_qsl(request.url.query))
        sql, params = statements[query["bucket"]]
        given = {
            "patient": uuid.UUID(query["patient"]),
            "kind": query["kind"],
            "since": datetime.fromisoformat(query["from"]),
            "until": datetime.fromisoformat(query["to"]),
            "zone": query["zone"],
        }
        args = [p[1] if isinstance(p, tuple) else given[p] for p in params]
        async with state["pool"].acquire() as conn:
            points = await conn.fetchval(sql, *args)
        return Response(f'{{"points":{points}}}'.encode(), media_type="application/json")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state["pool"] = await asyncpg.create_pool(os.environ["BENCH_DATABASE_URL"], max_size=10)
        yield
        await state["pool"].close()

    return Starlette(routes=[Route("/series", series)], lifespan=lifespan)


# -- the run --------------------------------------------------------------------------------------


def _step(name: str, endpoint: str, result: Result) -> dict[str, Any]:
    print(
        f"{name:<10} {endpoint:<12} target {result.target:>4}/s  achieved "
        f"{result.achieved:6.0f}/s  p50 {result.p50_ms:6.1f} ms  p99 {result.p99_ms:7.1f} ms  "
        f"max {result.max_ms:7.1f} ms  errors {result.errors}",
        flush=True,
    )
    return asdict(result)


def measure(
    name: str,
    port: int,
    endpoints: list[str],
    patients: list[tuple[str, str, str]],
    span: tuple[datetime, datetime],
    rates: list[int],
    seconds: float,
) -> dict[str, list[dict[str, Any]]]:
    floor = name == "floor"
    steps: dict[str, list[dict[str, Any]]] = {}
    for endpoint in endpoints:
        made = requests_for(endpoint, port, patients, span, floor=floor)
        asyncio.run(load(port, 50, 2, made))  # warm up: connections, the pool, caches
        steps[endpoint] = []
        for rate in rates:
            result = asyncio.run(load(port, rate, seconds, made))
            steps[endpoint].append(_step(name, endpoint, result))
            time.sleep(2)  # what queued drains before the next step
            if result.p99_ms > 5000:
                break  # saturated: higher rates only queue more
    return steps


def csv_rows(rows: int, until: datetime, seed: int = 11) -> bytes:
    rng = random.Random(seed)
    lines = ["kind,value,value2,unit,measured_at,note"]
    for i in range(rows):
        at = (until - timedelta(minutes=10 * (i + 1))).isoformat()
        if i % 3 == 0:
            systolic = rng.randint(100, 150)
            lines.append(f"blood_pressure,{systolic},{systolic - 40},mm[Hg],{at},")
        elif i % 3 == 1:
            lines.append(f"blood_glucose,{rng.uniform(4, 9):.1f},,mmol/L,{at},after breakfast")
        else:
            lines.append(f"heart_rate,{rng.randint(55, 95)},,,{at},")
    return ("\n".join(lines) + "\n").encode()


def measure_import(port: int, token: str, rows: int, until: datetime) -> dict[str, Any]:
    data = csv_rows(rows, until)
    started = time.perf_counter()
    answer = httpx.post(
        f"http://127.0.0.1:{port}/api/v1/records/import",
        files={"file": ("readings.csv", data, "text/csv")},
        headers={"Authorization": f"Bearer {token}"},
        timeout=120,
    )
    seconds = time.perf_counter() - started
    report = answer.json() if answer.status_code == 200 else {}
    result = {
        "rows": rows,
        "bytes": len(data),
        "status": answer.status_code,
        "imported": report.get("imported", 0),
        "rejected": len(report.get("rejected", [])),
        "seconds": round(seconds, 3),
        "rows_per_second": round(rows / seconds),
    }
    print(
        f"import: {rows:,} rows ({len(data) / 1e6:.1f} MB) in {seconds:.2f} s: "
        f"{result['rows_per_second']:,} rows/s (answer {answer.status_code}, imported "
        f"{result['imported']}, rejected {result['rejected']})",
        flush=True,
    )
    return result


def _ratios(
    carebridge: dict[str, list[dict[str, Any]]], floor: dict[str, list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    ratios = []
    for endpoint, steps in floor.items():
        for ours, bare in zip(carebridge.get(endpoint, []), steps, strict=False):
            ratio = {
                "endpoint": endpoint,
                "rate": ours["target"],
                "p50": round(ours["p50_ms"] / max(bare["p50_ms"], 1e-3), 2),
                "p99": round(ours["p99_ms"] / max(bare["p99_ms"], 1e-3), 2),
            }
            ratios.append(ratio)
            print(
                f"ratio to the floor, {endpoint} at {ratio['rate']}/s: p50 x{ratio['p50']}, "
                f"p99 x{ratio['p99']}"
            )
    return ratios


def run(
    patients: int,
    days: int,
    rates: list[int],
    seconds: float,
    *,
    import_rows: int = 20_000,
    workers: str = "2",
    server_url: str | None = None,
) -> dict[str, Any]:
    until = datetime.now(UTC).replace(microsecond=0)
    span = (until - timedelta(days=365), until)
    report: dict[str, Any] = {"patients": patients, "days": days, "workers": int(workers)}
    with tempfile.TemporaryDirectory() as tmp_dir, bench_database(Path(tmp_dir), server_url) as url:
        tmp = Path(tmp_dir)
        settings = load_settings(database_url=url, data_dir=tmp, log_level="WARNING")
        configure_logging(settings)
        asyncio.run(migrate(settings))
        report["observations"] = generate(settings.libpq_url, patients, days, until)
        signed = asyncio.run(sign_in(settings))
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("CAREBRIDGE_")},
            "CAREBRIDGE_DATABASE_URL": url,
            "CAREBRIDGE_DATA_DIR": str(tmp),
            "CAREBRIDGE_LOG_LEVEL": "WARNING",
            "CAREBRIDGE_AUTO_MIGRATE": "false",
            "CAREBRIDGE_IN_PROCESS_WORKER": "false",
        }
        print(
            f"{patients:,} patients x {len(KINDS)} kinds x {days} days; {workers} web processes; "
            f"{seconds:.0f} s per rate",
            flush=True,
        )
        modes: dict[str, Any] = {}
        port = free_port()
        command = [sys.executable, "-m", "carebridge", "serve", "--port", str(port),
                   "--workers", workers]  # fmt: skip
        with server(command, env, port, tmp / "carebridge.log"):
            check = httpx.get(
                f"http://127.0.0.1:{port}/api/v1/records/observations/series?kind=heart_rate"
                f"&bucket=day&from={_instant(span[0])}&to={_instant(span[1])}",
                headers={"Authorization": f"Bearer {signed[0][2]}"},
            ).json()
            report["series_check"] = {
                "points": len(check["points"]),
                "readings": sum(p["count"] for p in check["points"]),
            }
            modes["carebridge"] = measure(
                "carebridge", port, ["series_day", "series_week", "summary"], signed, span, rates,
                seconds,
            )  # fmt: skip
            report["import"] = measure_import(port, signed[-1][2], import_rows, until)
        port = free_port()
        command = [sys.executable, "-m", "uvicorn", "bench.records:floor_app", "--factory",
                   "--port", str(port), "--workers", workers, "--loop", "uvloop", "--http",
                   "httptools", "--no-access-log", "--log-level", "warning"]  # fmt: skip
        with server(command, {**env, "BENCH_DATABASE_URL": url}, port, tmp / "floor.log"):
            modes["floor"] = measure(
                "floor", port, ["series_day", "series_week"], signed, span, rates, seconds
            )
        report["modes"] = modes
        report["ratios"] = _ratios(modes["carebridge"], modes["floor"])
    return report


def main() -> None:
    uvloop.install()
    report = run(
        int(os.environ.get("BENCH_PATIENTS", "1000")),
        int(os.environ.get("BENCH_DAYS", "365")),
        [int(r) for r in os.environ.get("BENCH_RATES", "200,400").split(",")],
        float(os.environ.get("BENCH_SECONDS", "10")),
        import_rows=int(os.environ.get("BENCH_IMPORT_ROWS", "20000")),
        workers=os.environ.get("BENCH_WORKERS", "2"),
    )
    if os.environ.get("BENCH_JSON"):
        Path(os.environ["BENCH_JSON"]).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
