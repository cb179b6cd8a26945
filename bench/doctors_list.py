"""`GET /api/v1/doctors` with filters under constant-rate (open-loop) load.

CareBridge runs as a real `carebridge serve` process (uvicorn, uvloop, httptools) on a fresh
database with the demo data plus BENCH_DOCTORS (default 2,000) generated verified doctors. It is
measured twice: with the listing cache (the default) and with it off
(`CAREBRIDGE_CACHE_TTL_SECONDS=0`, so every request runs the search). The reference is a bare
Starlette + asyncpg app, served by uvicorn the same way, that runs the *same SQL* (compiled from
CareBridge's search for each URL) and encodes the same JSON, without any cache.

The load generator sends requests on a fixed schedule whatever the answers (open loop: a slow
server does not slow the sender down), over keep-alive connections it opens as needed, and
measures each latency from the moment the request was due, so queueing is counted. It runs in
this process on uvloop with httptools' parser.

Environment: CAREBRIDGE_DATABASE_URL (a server to create the bench database on; else an
embedded PostgreSQL in a temporary folder), BENCH_DOCTORS, BENCH_WORKERS (web processes,
default 2), BENCH_RATES (default "1000,2000,3000,4000"), BENCH_SECONDS (default 10),
BENCH_MODES (default "cache,no-cache,reference").
Targets (docs/performance.md): >= 3,000 requests/s at p99 <= 50 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import asyncpg
import httptools
import psycopg
import uvloop
from psycopg import sql
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url

from carebridge.config import Settings, load_settings
from carebridge.directory.schemas import DoctorQuery
from carebridge.directory.search import search_statement
from carebridge.platform.db import Database
from carebridge.platform.embedded import EmbeddedPostgres
from carebridge.platform.logging import configure_logging
from carebridge.platform.migrate import upgrade
from carebridge.seed import seed_demo

URLS = [
    "/api/v1/doctors",
    "/api/v1/doctors?specialty=cardiology",
    "/api/v1/doctors?specialty=pediatrics&language=fr",
    "/api/v1/doctors?online=true",
    "/api/v1/doctors?online=true&specialty=dermatology",
    "/api/v1/doctors?language=es&max_fee=6000",
    "/api/v1/doctors?min_rating=4.5&sort=rating",
    "/api/v1/doctors?max_fee=5000&sort=fee",
    "/api/v1/doctors?specialty=general-practice&online=true&language=en&max_fee=8000",
    "/api/v1/doctors?q=card",
    "/api/v1/doctors?q=cardiology",
    "/api/v1/doctors?q=spanish+cardio",
    "/api/v1/doctors?q=pedi&online=true",
    "/api/v1/doctors?q=sofia",
    "/api/v1/doctors?q=heart+pressure",
    "/api/v1/doctors?q=derm&language=en",
    "/api/v1/doctors?q=asthma&min_rating=4",
    "/api/v1/doctors?q=psych&sort=fee",
    "/api/v1/doctors?q=migraine",
    "/api/v1/doctors?q=ear+nose+and+throat",
    *(f"/api/v1/doctors?q={prefix}" for prefix in ("ca", "der", "neu", "gyn", "ort", "ped")),
]

FIRST = ["Anna", "Ben", "Carla", "Daniel", "Eva", "Felix", "Grace", "Hugo", "Ines", "Jonas"]
LAST = ["Adams", "Berg", "Costa", "Diaz", "Eriksen", "Fischer", "Gomez", "Horvat", "Ito"]
FOCUS = [
    "blood pressure and heart rhythm",
    "asthma and allergies in children",
    "skin rashes and acne",
    "migraine and sleep problems",
    "diabetes and thyroid care",
    "back pain and sports injuries",
    "anxiety and low mood",
    "pregnancy questions",
]
LANGUAGE_SETS = ["{en}", "{en,es}", "{en,fr}", "{de,en}", "{en,pt}", "{fr,ar}", "{es}", "{en,zh}"]

SEED_SQL = """
INSERT INTO users (email, name, role, status, password_hash, approved_at, email_verified_at)
SELECT 'bench-' || g || '@bench.example.org',
       'Dr. ' || (%(first)s::text[])[1 + g %% 10] || ' '
           || (%(last)s::text[])[1 + (g / 10) %% 9] || ' ' || g,
       'doctor', 'active', 'not-a-password', now(), now()
FROM generate_series(1, %(n)s) AS g;

INSERT INTO doctor_profiles (user_id, bio, languages, years_of_experience, consultation_fee,
                             license_number, verified_at, rating_average, rating_count)
SELECT u.id,
       'Sees patients by video for ' || (%(focus)s::text[])[1 + n %% 8] || '.',
       (%(languages)s::text[])[1 + n %% 8]::varchar[],
       1 + n %% 30, 2000 + (n %% 9) * 1000, 'BENCH-' || n, now(),
       (3 + (n %% 21) / 10.0)::numeric(3, 2), n %% 200
FROM (SELECT id, row_number() OVER (ORDER BY email) AS n FROM users
      WHERE email LIKE 'bench-%%') AS u;

INSERT INTO doctor_specialties (doctor_id, specialty_id)
SELECT p.user_id, s.id
FROM doctor_profiles p
JOIN users u ON u.id = p.user_id AND u.email LIKE 'bench-%%'
CROSS JOIN LATERAL (SELECT id FROM specialties ORDER BY md5(p.user_id::text || slug) LIMIT 2) s;

INSERT INTO doctor_presence (doctor_id, status, version, changed_at, last_online_at)
SELECT p.user_id,
       (ARRAY['online', 'busy', 'offline', 'offline'])[1 + abs(hashtext(p.user_id::text)) %% 4],
       nextval('presence_version_seq'), now(), now()
FROM doctor_profiles p ON CONFLICT DO NOTHING;
ANALYZE;
"""


# -- the database -------------------------------------------------------------------------------


@contextmanager
def bench_database(tmp: Path, server: str | None = None) -> Iterator[str]:
    """A fresh database (on ``server``, else CAREBRIDGE_DATABASE_URL's server, else an embedded
    one)."""
    server = server or load_settings().database_url
    embedded = None
    if server is None:
        embedded = EmbeddedPostgres(tmp / "postgres")
        server = embedded.start()
    name = f"carebridge_bench_{uuid.uuid4().hex[:8]}"
    admin = make_url(server).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
        if embedded is not None:
            embedded.stop()


def seed_doctors(settings: Settings, doctors: int) -> None:
    params = {
        "n": doctors,
        "first": FIRST,
        "last": LAST,
        "focus": FOCUS,
        "languages": LANGUAGE_SETS,
    }
    with psycopg.connect(settings.libpq_url, autocommit=True) as conn:
        for statement in SEED_SQL.split(";\n"):
            if statement.strip():
                conn.execute(statement, params)  # type: ignore[call-overload]
        listed = conn.execute("SELECT count(*) FROM doctor_profiles WHERE verified_at IS NOT NULL")
        print(f"database: {listed.fetchone()[0]} listed doctors")  # type: ignore[index]


async def prepare(settings: Settings, doctors: int) -> dict[str, Any]:
    """Migrate, seed, and compile CareBridge's SQL of every URL (for the reference)."""
    database = Database.from_settings(settings)
    await upgrade(database.engine)
    await seed_demo(database, settings)
    await asyncio.to_thread(seed_doctors, settings, doctors)
    compiled = {}
    dialect = postgresql.asyncpg.dialect()  # type: ignore[attr-defined]
    await database.dispose()
    raw = await asyncpg.connect(settings.libpq_url)
    for url in URLS:
        query = DoctorQuery.model_validate(dict(parse_qsl(urlsplit(url).query)))
        statement, _, values = search_statement(query)
        sql_text = statement.compile(dialect=dialect)
        bound = sql_text.construct_params(values)
        params = [_tagged(bound[name]) for name in sql_text.positiontup or []]
        compiled[urlsplit(url).query] = {"sql": str(sql_text), "params": params}
        if url in (URLS[8], URLS[11]):
            plan = await raw.fetch(f"EXPLAIN {sql_text}", *map(_untagged, params))
            lines = [r[0].strip() for r in plan if "Index" in r[0] or "Bitmap" in r[0]]
            print(f"plan of {url}:\n  " + "\n  ".join(lines[:8]))
    await raw.close()
    return compiled


def _tagged(value: Any) -> Any:
    return {"uuid": str(value)} if isinstance(value, uuid.UUID) else value


def _untagged(value: Any) -> Any:
    return uuid.UUID(value["uuid"]) if isinstance(value, dict) else value


# -- the reference: bare Starlette + asyncpg, same SQL ------------------------------------------


def reference_app() -> Any:
    """``uvicorn --factory bench.doctors_list:reference_app``."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    queries = {
        query: (entry["sql"], [_untagged(p) for p in entry["params"]])
        for query, entry in json.loads(Path(os.environ["BENCH_QUERIES"]).read_text()).items()
    }
    pool: asyncpg.Pool | None = None

    async def doctors(request: Request) -> Response:
        statement, params = queries[request.url.query]
        assert pool is not None
        async with pool.acquire() as conn:
            rows = (await conn.fetch(statement, *params))[:20]
        items = [
            {
                "id": str(r["id"]),
                "name": r["name"],
                "specialties": json.loads(r["specialties"]),
                "bio": r["bio"],
                "languages": list(r["languages"]),
                "years_of_experience": r["years_of_experience"],
                "consultation_fee": r["consultation_fee"],
                "currency": "EUR" if r["consultation_fee"] is not None else None,
                "clinic_address": r["clinic_address"],
                "photo_url": r["photo_url"],
                "time_zone": r["time_zone"],
                "rating_average": None
                if r["rating_average"] is None
                else float(r["rating_average"]),
                "rating_count": r["rating_count"],
                "status": r["status"],
                "last_online_at": r["last_online_at"] and r["last_online_at"].isoformat(),
            }
            for r in rows
        ]
        body = json.dumps({"items": items, "next_cursor": None}).encode()
        return Response(body, media_type="application/json")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        nonlocal pool
        pool = await asyncpg.create_pool(os.environ["BENCH_DATABASE_URL"], min_size=2, max_size=10)
        yield
        await pool.close()

    return Starlette(routes=[Route("/api/v1/doctors", doctors)], lifespan=lifespan)


# -- servers ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def server(command: list[str], env: dict[str, str], port: int, log: Path) -> Iterator[None]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"server exited:\n{log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.2)
        time.sleep(1.0)
        yield
    finally:
        process.send_signal(2)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- the open-loop load generator ---------------------------------------------------------------


class Recorder:
    """What the connections report: latencies (from when each request was due) and errors."""

    def __init__(self, expected: int) -> None:
        self.latencies: list[float] = []
        self.not_ok = 0  # answered, but not with a 200
        self.lost = 0  # the connection closed before the answer
        self.idle: list[Connection] = []
        self.expected = expected
        self.done = asyncio.Event()

    def answered(self, latency: float | None, ok: bool) -> None:
        if latency is None:
            self.lost += 1
        else:
            self.latencies.append(latency)
            self.not_ok += not ok
        if len(self.latencies) + self.lost >= self.expected:
            self.done.set()


class Connection(asyncio.Protocol):
    """A keep-alive HTTP/1.1 client connection driven by callbacks: no task or future per
    request, so the generator costs little CPU next to the server it measures."""

    def __init__(self, recorder: Recorder, loop: asyncio.AbstractEventLoop) -> None:
        self.recorder = recorder
        self.loop = loop
        self.parser = httptools.HttpResponseParser(self)
        self.transport: Any = None  # uvloop's transports are no asyncio classes
        self.due: float | None = None
        self.pending: bytes | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        if self.pending is not None:
            transport.write(self.pending)  # type: ignore[attr-defined]
            self.pending = None

    def send(self, raw: bytes, due: float) -> None:
        self.due = due
        if self.transport is None:
            self.pending = raw
        else:
            self.transport.write(raw)

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_message_complete(self) -> None:
        assert self.due is not None
        latency = time.perf_counter() - self.due
        self.due = None
        self.recorder.idle.append(self)
        self.recorder.answered(latency, ok=200 <= self.parser.get_status_code() < 300)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.due is not None:
            self.due = None
            self.recorder.answered(None, ok=False)


@dataclass
class Result:
    target: int
    achieved: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: int


async def load(port: int, rate: int, seconds: float, requests: list[bytes] | None = None) -> Result:
    """Send ``rate`` requests a second for ``seconds``, on schedule whatever the answers;
    ``requests`` (raw HTTP/1.1, default: GETs of the URLs) are sent in turn. An answer counts
    as an error unless it is a 2xx."""
    loop = asyncio.get_running_loop()
    if requests is None:
        requests = [
            f"GET {url} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode() for url in URLS
        ]
    total = int(rate * seconds)
    recorder = Recorder(total)
    opened: list[Connection] = []
    connecting: list[asyncio.Task[Any]] = []

    def connection() -> Connection:
        while recorder.idle:
            conn = recorder.idle.pop()
            if conn.transport is not None:
                return conn
        conn = Connection(recorder, loop)
        opened.append(conn)
        connecting.append(loop.create_task(loop.create_connection(lambda: conn, "127.0.0.1", port)))
        return conn

    # perf_counter, not loop.time(): uvloop's clock has millisecond steps.
    start = time.perf_counter() + 0.05
    sent = 0
    while sent < total:
        due_count = min(total, int((time.perf_counter() - start) * rate) + 1)
        while sent < due_count:
            connection().send(requests[sent % len(requests)], start + sent / rate)
            sent += 1
        await asyncio.sleep(0.001)  # uvloop rounds shorter sleeps to 0: a busy loop
    with contextlib.suppress(TimeoutError):  # what has not answered by then is an error
        await asyncio.wait_for(recorder.done.wait(), timeout=30)
    elapsed = max(time.perf_counter() - start, 1e-9)
    for conn in opened:
        if conn.transport is not None:
            conn.transport.close()
    ms = sorted(x * 1000 for x in recorder.latencies) or [0.0]
    return Result(
        target=rate,
        achieved=len(recorder.latencies) / elapsed,
        p50_ms=statistics.median(ms),
        p99_ms=ms[min(len(ms) - 1, int(len(ms) * 0.99))],
        max_ms=ms[-1],
        errors=total - len(recorder.latencies) + recorder.not_ok,
    )


def measure(name: str, port: int, rates: list[int], seconds: float) -> list[Result]:
    asyncio.run(load(port, 300, 3))  # warm up: connections, caches, the pool
    results = []
    for rate in rates:
        result = asyncio.run(load(port, rate, seconds))
        results.append(result)
        print(
            f"{name:<22} target {rate:>5}/s  achieved {result.achieved:7.0f}/s  "
            f"p50 {result.p50_ms:6.1f} ms  p99 {result.p99_ms:7.1f} ms  "
            f"max {result.max_ms:7.1f} ms  errors {result.errors}",
            flush=True,
        )
        if result.p99_ms > 2000:
            break  # saturated: higher rates only queue more
    return results


def main() -> None:
    uvloop.install()
    doctors = int(os.environ.get("BENCH_DOCTORS", "2000"))
    workers = os.environ.get("BENCH_WORKERS", "2")
    rates = [int(r) for r in os.environ.get("BENCH_RATES", "1000,2000,3000,4000").split(",")]
    seconds = float(os.environ.get("BENCH_SECONDS", "10"))
    with tempfile.TemporaryDirectory() as tmp_dir, bench_database(Path(tmp_dir)) as url:
        tmp = Path(tmp_dir)
        settings = load_settings().model_copy(
            update={"database_url": url, "data_dir": tmp, "log_level": "WARNING"}
        )
        configure_logging(settings)
        queries = tmp / "queries.json"
        queries.write_text(json.dumps(asyncio.run(prepare(settings, doctors))))
        base_env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("CAREBRIDGE_")},
            "CAREBRIDGE_DATABASE_URL": url,
            "CAREBRIDGE_DATA_DIR": str(tmp),
            "CAREBRIDGE_LOG_LEVEL": "WARNING",
            "CAREBRIDGE_AUTO_MIGRATE": "false",
            "CAREBRIDGE_IN_PROCESS_WORKER": "false",
        }
        print(f"web processes: {workers}; {len(URLS)} URLs in turn; {seconds:.0f} s per rate")
        modes = os.environ.get("BENCH_MODES", "cache,no-cache,reference").split(",")
        for name, ttl in (("carebridge (cache)", "30"), ("carebridge (no cache)", "0")):
            if name.split(" ", 1)[1].strip("()").replace(" ", "-") not in modes:
                continue
            port = free_port()
            command = [sys.executable, "-m", "carebridge", "serve", "--port", str(port),
                       "--workers", workers]  # fmt: skip
            env = {**base_env, "CAREBRIDGE_CACHE_TTL_SECONDS": ttl}
            with server(command, env, port, tmp / f"{ttl}.log"):
                measure(name, port, rates, seconds)
        if "reference" not in modes:
            return
        port = free_port()
        command = [sys.executable, "-m", "uvicorn", "bench.doctors_list:reference_app",
                   "--factory", "--port", str(port), "--workers", workers, "--loop", "uvloop",
                   "--http", "httptools", "--no-access-log", "--log-level", "warning"]  # fmt: skip
        env = {**base_env, "BENCH_QUERIES": str(queries), "BENCH_DATABASE_URL": url}
        with server(command, env, port, tmp / "reference.log"):
            measure("reference (no cache)", port, rates, seconds)


if __name__ == "__main__":
    main()
