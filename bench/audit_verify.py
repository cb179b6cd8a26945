"""The sealed audit trail: ``audit verify`` over a million events, and booking with the sealer
at work.

1. Verify: BENCH_AUDIT_EVENTS (default 1,000,000) audit events generated inside PostgreSQL
   (``INSERT ... SELECT generate_series``, in transactions of 100,000, with an actor, a subject,
   an address, a user agent, a request id and details as the application writes them) in a
   database the benchmark creates and drops; ``VACUUM ANALYZE``; sealed by ``seal_pending`` in
   batches of BENCH_AUDIT_SEAL_BATCH (10,000); then ``verify`` (``compliance/verify.py``, as
   ``carebridge audit verify`` runs it) timed: events a second. Target (docs/compliance.md):
   a million events verified within a minute.
2. Booking with the sealer (unless BENCH_BOOKING_SECONDS=0): the booking benchmark's sustained
   load (``bench/booking.py``: a real ``carebridge serve``, distinct slots, open loop) at
   BENCH_BOOKING_RATE (100) requests a second for BENCH_BOOKING_SECONDS (10), BENCH_ROUNDS (3)
   rounds each with and without a sealer process sealing every BENCH_SEAL_EVERY (2) seconds,
   in alternating order (off, on, on, off, ...) so that drift of the machine falls on both.
   Reported: each round's p50/p99, and the ratio of the medians, sealer on over off. Target:
   within 3% (sealing is not on the request path; what it takes is CPU and I/O of the server).

Environment: CAREBRIDGE_DATABASE_URL (a server to create the bench databases on; else an
embedded PostgreSQL in a temporary folder), the variables above, BENCH_WORKERS (2), BENCH_JSON (a
file to write the report to).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import asyncpg
import psycopg
import uvloop

from bench.booking import Plan, prepare
from bench.doctors_list import bench_database, free_port, load, server
from carebridge.accounts.tokens import KeyStore
from carebridge.compliance.seal import all_final, seal_pending
from carebridge.compliance.verify import verify
from carebridge.config import Settings, load_settings
from carebridge.platform.db import Database
from carebridge.platform.logging import configure_logging
from carebridge.platform.migrate import upgrade

GENERATE_SQL = """
INSERT INTO audit_events (at, actor_id, actor_role, action, resource_type, resource_id,
                          subject_id, outcome, ip, user_agent, request_id, details)
SELECT now() - make_interval(secs => %(total)s::int - g), md5('actor' || g %% 500)::uuid, 'doctor',
       'records.observation_read', 'observation', md5('obs' || g)::uuid::text,
       md5('patient' || g %% 20000)::uuid, 'success', '10.1.' || g %% 250 || '.' || g %% 199,
       'Mozilla/5.0 (X11; Linux x86_64) CareBridge/1.0', 'req-' || md5(g::text),
       jsonb_build_object('kind', 'heart_rate', 'count', g %% 97, 'fields', '["value","at"]'::jsonb)
FROM generate_series(%(first)s::int, %(last)s::int) AS g
"""
CHUNK = 100_000


def generate(url: str, events: int) -> float:
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        for first in range(1, events + 1, CHUNK):
            last = min(events, first + CHUNK - 1)
            conn.execute(GENERATE_SQL, {"total": events, "first": first, "last": last})
        conn.execute("VACUUM ANALYZE audit_events")
    return time.perf_counter() - started


async def seal_and_verify(settings: Settings, url: str, events: int, batch: int) -> dict[str, Any]:
    database = Database.from_settings(settings)
    try:
        await upgrade(database.engine)
        generated = await asyncio.to_thread(generate, url, events)
        # Transaction ids are the server's: another database's running transaction holds the
        # seal back (docs/compliance.md).
        for _ in range(3000):  # 10 minutes at most
            if await final(database):
                break
            await asyncio.sleep(0.2)
        started = time.perf_counter()
        sealed = await seal_pending(database, KeyStore(settings), batch)
        sealing = time.perf_counter() - started
    finally:
        await database.dispose()
    conn = await asyncpg.connect(url)
    try:
        report = await verify(conn)
    finally:
        await conn.close()
    return {
        "events": events,
        "generate_seconds": round(generated, 1),
        "batches": len(sealed),
        "seal_seconds": round(sealing, 1),
        "seal_events_per_second": round(events / sealing),
        "verify": {
            "ok": report.ok,
            "problem": report.problem.describe() if report.problem else None,
            "batches": report.batches,
            "events": report.events,
            "pending": report.pending,
            "seconds": round(report.seconds, 1),
            "events_per_second": round(report.events / max(report.seconds, 1e-9)),
        },
    }


async def final(database: Database) -> bool:
    async with database.transaction() as db:
        return await all_final(db)


@contextmanager
def sealer(url: str, data_dir: Path, every: float, log: Path) -> Any:
    """A process sealing every ``every`` seconds (as a worker's job, more often)."""
    command = [sys.executable, "-m", "bench.audit_verify", "--sealer", url, str(data_dir),
               str(every)]  # fmt: skip
    with log.open("ab") as errors:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors)
    try:
        assert process.stdout is not None
        # Imported and sealed once: starting Python is not what is measured.
        ready = process.stdout.readline()
        if not ready:
            raise RuntimeError(f"the sealer did not start:\n{log.read_text()[-2000:]}")
        yield
    finally:
        process.terminate()
        process.wait(timeout=20)


async def count_batches(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM audit_batches"))
    finally:
        await conn.close()


def booking_with_sealer(
    server_url: str | None, tmp: Path, seconds: float, rate: int, rounds: int, every: float
) -> dict[str, Any]:
    workers = os.environ.get("BENCH_WORKERS", "2")
    with bench_database(tmp, server_url) as url:
        settings = load_settings(database_url=url, data_dir=tmp, log_level="WARNING")
        patients = max(200, int(rate * seconds * 2 * rounds) // 20 + 1)
        people = asyncio.run(prepare(settings, 20, patients))
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("CAREBRIDGE_")},
            "CAREBRIDGE_DATABASE_URL": url,
            "CAREBRIDGE_DATA_DIR": str(tmp),
            "CAREBRIDGE_LOG_LEVEL": "WARNING",
            "CAREBRIDGE_AUTO_MIGRATE": "false",
            "CAREBRIDGE_IN_PROCESS_WORKER": "false",
            "CAREBRIDGE_MAX_FUTURE_APPOINTMENTS": "100",
        }
        plan = Plan(people, first=0)
        port = free_port()
        command = [sys.executable, "-m", "carebridge", "serve", "--port", str(port),
                   "--workers", workers]  # fmt: skip
        steps: list[dict[str, Any]] = []
        with server(command, env, port, tmp / "carebridge.log"):
            asyncio.run(load(port, 50, 2, plan.requests(port, 100)))  # warm up
            for n in range(rounds):
                for on in (False, True) if n % 2 == 0 else (True, False):
                    requests = plan.requests(port, int(rate * seconds))
                    if on:
                        with sealer(url, tmp, every, tmp / "sealer.log"):
                            result = asyncio.run(load(port, rate, seconds, requests))
                    else:
                        result = asyncio.run(load(port, rate, seconds, requests))
                    steps.append({"round": n, "sealer": on, **asdict(result)})
                    print(
                        f"round {n} sealer {'on ' if on else 'off'}  achieved "
                        f"{result.achieved:6.0f}/s  p50 {result.p50_ms:6.1f} ms  "
                        f"p99 {result.p99_ms:6.1f} ms  errors {result.errors}",
                        flush=True,
                    )
        batches = asyncio.run(count_batches(url))

    def median(on: bool, field: str) -> float:
        return statistics.median(s[field] for s in steps if s["sealer"] is on)

    return {
        "rate": rate,
        "seconds": seconds,
        "rounds": steps,
        "batches_sealed": batches,
        "p50_ratio": round(median(True, "p50_ms") / median(False, "p50_ms"), 3),
        "p99_ratio": round(median(True, "p99_ms") / median(False, "p99_ms"), 3),
        "achieved_ratio": round(median(True, "achieved") / median(False, "achieved"), 3),
    }


def run(
    events: int,
    batch: int = 10_000,
    booking_seconds: float = 0,
    rate: int = 100,
    rounds: int = 3,
    every: float = 2.0,
    server_url: str | None = None,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        with bench_database(tmp, server_url) as url:
            settings = load_settings(database_url=url, data_dir=tmp, log_level="WARNING")
            configure_logging(settings)
            report = asyncio.run(seal_and_verify(settings, url, events, batch))
        verified = report["verify"]
        print(
            f"{events} events generated in {report['generate_seconds']} s, sealed in "
            f"{report['batches']} batches in {report['seal_seconds']} s; verify: "
            f"{'ok' if verified['ok'] else verified['problem']}, {verified['events']} events in "
            f"{verified['seconds']} s ({verified['events_per_second']}/s)",
            flush=True,
        )
        if booking_seconds:
            report["booking"] = booking_with_sealer(
                server_url, tmp, booking_seconds, rate, rounds, every
            )
            booking = report["booking"]
            print(
                f"booking with the sealer / without: p50 x{booking['p50_ratio']}, "
                f"p99 x{booking['p99_ratio']}, throughput x{booking['achieved_ratio']} "
                f"({booking['batches_sealed']} batches sealed meanwhile)",
                flush=True,
            )
    return report


async def _seal_every(url: str, data_dir: str, every: float) -> None:
    settings = load_settings(database_url=url, data_dir=Path(data_dir), log_level="WARNING")
    configure_logging(settings)
    database = Database.from_settings(settings)
    keys = KeyStore(settings)
    await seal_pending(database, keys, settings.audit_seal_batch_size)
    print("sealing", flush=True)
    while True:
        await asyncio.sleep(every)
        await seal_pending(database, keys, settings.audit_seal_batch_size)


def main() -> None:
    uvloop.install()
    report = run(
        int(os.environ.get("BENCH_AUDIT_EVENTS", "1000000")),
        int(os.environ.get("BENCH_AUDIT_SEAL_BATCH", "10000")),
        float(os.environ.get("BENCH_BOOKING_SECONDS", "10")),
        int(os.environ.get("BENCH_BOOKING_RATE", "100")),
        int(os.environ.get("BENCH_ROUNDS", "3")),
        float(os.environ.get("BENCH_SEAL_EVERY", "2")),
    )
    if os.environ.get("BENCH_JSON"):
        Path(os.environ["BENCH_JSON"]).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--sealer"]:
        uvloop.install()
        asyncio.run(_seal_every(sys.argv[2], sys.argv[3], float(sys.argv[4])))
    else:
        main()
