"""`POST /api/v1/appointments`: a storm on one slot, and sustained booking of distinct slots.

CareBridge runs as a real `carebridge serve --workers BENCH_WORKERS` process on a fresh database
with BENCH_DOCTORS verified doctors (a schedule in UTC: every day 00:00-23:45, 15-minute video
slots, no notice) and BENCH_PATIENTS patients signed in beforehand (sessions and access tokens
made in the database, so sign-in is not measured). The cap on upcoming appointments per patient
is raised to its maximum for the run (CAREBRIDGE_MAX_FUTURE_APPOINTMENTS=100; a run books a few
per patient).

1. Storm: BENCH_STORM (default 500) different patients send the same slot at the same moment
   over their own connections. Reported: winners (201), 409 `slot_taken`, 5xx, other answers,
   p50/p99 latency, and the rows in the database (must be 1).
2. Sustained: open-loop load at each of BENCH_RATES (default "100,200,300,500") requests a
   second for BENCH_SECONDS (default 10), every request a different slot, doctor and patient in
   turn (so the answer should always be 201). The load generator is the one of
   `bench/doctors_list.py`.
3. Floor, same load: a bare Starlette + asyncpg app (same uvicorn settings and workers) sending
   the statements a CareBridge booking sends, CareBridge's own SQL, in one transaction (session
   check, patient lock, facts, appointment + reminders + audit, recipient, notification +
   deliveries, COMMIT, the delivery job). No FastAPI, no SQLAlchemy session, no token signature
   check, no slot computation: what this machine allows for a booking's database work.
4. Reference, same load: a bare Starlette + asyncpg app whose endpoint does the least a booking
   must do: parse the JSON and INSERT the appointment, with the same exclusion constraint
   deciding conflicts. No authentication, no slot computation, no notification, audit or
   reminders.

Environment: CAREBRIDGE_DATABASE_URL (a server to create the bench database on; else an embedded
PostgreSQL in a temporary folder), BENCH_WORKERS (default 2), BENCH_DOCTORS (50), BENCH_PATIENTS
(2000), BENCH_STORM, BENCH_RATES, BENCH_SECONDS, BENCH_MODES (default
"storm,carebridge,floor,reference").
Targets (docs/performance.md): exactly 1 winner; >= 500 requests/s at p99 <= 100 ms.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import statistics
import sys
import tempfile
import time as clock
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvloop

from bench.doctors_list import bench_database, free_port, load, server
from carebridge.config import Settings, load_settings
from carebridge.platform.logging import configure_logging

SLOT = timedelta(minutes=15)
SLOTS_PER_DAY = 95  # 00:00 … 23:30 (the window ends at 23:45)


def _first_day() -> datetime:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=2)


def slot_start(k: int) -> datetime:
    """The k-th slot of a doctor (each doctor has the same grid)."""
    return _first_day() + timedelta(days=k // SLOTS_PER_DAY) + (k % SLOTS_PER_DAY) * SLOT


async def prepare(settings: Settings, doctors: int, patients: int) -> dict[str, Any]:
    """Migrate; doctors with schedules; patients with live sessions and access tokens."""
    from carebridge.accounts.models import Role, User, UserStatus
    from carebridge.accounts.service import start_session
    from carebridge.accounts.tokens import KeyStore
    from carebridge.directory.models import DoctorProfile
    from carebridge.platform.context import SYSTEM
    from carebridge.platform.db import Database
    from carebridge.platform.migrate import upgrade
    from carebridge.scheduling.models import Schedule, ScheduleWindow, TypeSetting

    database = Database.from_settings(settings)
    await upgrade(database.engine)
    keys = KeyStore(settings)
    now = datetime.now(UTC)
    doctor_ids: list[str] = []
    tokens: list[str] = []
    patient_ids: list[str] = []
    async with database.transaction() as db:
        for n in range(doctors):
            doctor = User(
                email=f"bench-dr-{n}@example.org",
                name=f"Dr Bench {n}",
                role=Role.doctor,
                status=UserStatus.active,
                password_hash="x",
                approved_at=now,
            )
            db.add(doctor)
            await db.flush()
            db.add(DoctorProfile(user_id=doctor.id, verified_at=now, consultation_fee=None))
            db.add(Schedule(doctor_id=doctor.id, time_zone="UTC", booking_horizon_days=366,
                            min_notice_minutes=0))  # fmt: skip
            await db.flush()
            for weekday in range(7):
                db.add(ScheduleWindow(doctor_id=doctor.id, weekday=weekday,
                                      starts=time(0),
                                      ends=time(23, 45)))  # fmt: skip
            db.add(TypeSetting(doctor_id=doctor.id, type="video", duration_minutes=15,
                               buffer_minutes=0))  # fmt: skip
            doctor_ids.append(str(doctor.id))
    for start in range(0, patients, 500):
        async with database.transaction() as db:
            batch = [
                User(
                    email=f"bench-pt-{n}@example.org",
                    name=f"Patient {n}",
                    role=Role.patient,
                    status=UserStatus.active,
                    password_hash="x",
                )
                for n in range(start, min(patients, start + 500))
            ]
            db.add_all(batch)
            await db.flush()
            for user in batch:
                tokens.append((await start_session(db, keys, user, SYSTEM)).access_token)
                patient_ids.append(str(user.id))
    await database.dispose()
    return {"doctors": doctor_ids, "tokens": tokens, "patients": patient_ids}


def booking_request(port: int, token: str, doctor: str, starts_at: datetime) -> bytes:
    body = json.dumps(
        {"doctor_id": doctor, "starts_at": starts_at.isoformat(), "type": "video"}
    ).encode()
    head = (
        f"POST /api/v1/appointments HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


class Plan:
    """Distinct (doctor, slot, patient) for every request of the run: request i goes to doctor
    i mod D at slot i div D, by patient i mod P (a patient's slots never overlap)."""

    def __init__(self, people: dict[str, Any], first: int) -> None:
        self.doctors: list[str] = people["doctors"]
        self.tokens: list[str] = people["tokens"]
        self.next = first

    def requests(self, port: int, count: int) -> list[bytes]:
        made = []
        for i in range(self.next, self.next + count):
            doctor = self.doctors[i % len(self.doctors)]
            made.append(
                booking_request(
                    port,
                    self.tokens[i % len(self.tokens)],
                    doctor,
                    slot_start(i // len(self.doctors)),
                )
            )
        self.next += count
        return made


async def storm(port: int, people: dict[str, Any], size: int, url: str, log: Path) -> None:
    doctor = people["doctors"][0]
    starts_at = slot_start(0)  # the sustained plan starts after it
    body = {"doctor_id": doctor, "starts_at": starts_at.isoformat(), "type": "video"}
    limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=120
    ) as client:

        async def one(token: str) -> tuple[int, float]:
            started = clock.perf_counter()
            answer = await client.post(
                "/api/v1/appointments", json=body, headers={"Authorization": f"Bearer {token}"}
            )
            if answer.status_code not in (201, 409) and not failures:
                failures.append(f"{answer.status_code} {answer.text[:300]}")
            return answer.status_code, clock.perf_counter() - started

        failures: list[str] = []

        results = await asyncio.gather(*(one(t) for t in people["tokens"][:size]))
    statuses = Counter(code for code, _ in results)
    ms = sorted(seconds * 1000 for _, seconds in results)
    raw = await asyncpg.connect(url)
    rows = await raw.fetchval(
        "SELECT count(*) FROM appointments WHERE doctor_id = $1 AND starts_at = $2 "
        "AND status <> 'cancelled'",
        uuid.UUID(doctor),
        starts_at,
    )
    await raw.close()
    server_errors = sum(n for code, n in statuses.items() if code >= 500)
    print(
        f"storm: {size} patients, one slot: 201 x{statuses.get(201, 0)}, "
        f"409 x{statuses.get(409, 0)}, 5xx x{server_errors}, others "
        f"{ {c: n for c, n in statuses.items() if c not in (201, 409) and c < 500} }; "
        f"p50 {statistics.median(ms):.0f} ms, p99 {ms[int(len(ms) * 0.99) - 1]:.0f} ms, "
        f"max {ms[-1]:.0f} ms; rows in the database: {rows}",
        flush=True,
    )
    if failures:
        print(f"  first unexpected answer: {failures[0]}")
        print(_log_tail(log))


def _log_tail(log: Path) -> str:
    return "  server log, last lines:\n    " + "\n    ".join(log.read_text().splitlines()[-12:])


def sustained(
    name: str, port: int, plan: Plan, rates: list[int], seconds: float, log: Path
) -> None:
    asyncio.run(load(port, 50, 2, plan.requests(port, 100)))  # warm up
    for rate in rates:
        count = int(rate * seconds)
        result = asyncio.run(load(port, rate, seconds, plan.requests(port, count)))
        print(
            f"{name:<11} target {rate:>4}/s  achieved {result.achieved:6.0f}/s  "
            f"p50 {result.p50_ms:7.1f} ms  p99 {result.p99_ms:7.1f} ms  "
            f"max {result.max_ms:7.1f} ms  errors {result.errors}",
            flush=True,
        )
        if result.errors:
            print(
                "  server log, last lines:\n    " + "\n    ".join(log.read_text().splitlines()[-8:])
            )
        if result.p99_ms > 5000:
            break  # saturated: higher rates only queue more


# -- the reference -------------------------------------------------------------------------------

_INSERT = """
INSERT INTO appointments (doctor_id, patient_id, type, status, starts_at, ends_at, blocked_until,
                          time_zone, fee, confirmed_at)
VALUES ($1, $2, 'video', 'scheduled', $3::timestamptz, $3::timestamptz + interval '15 minutes',
        $3::timestamptz + interval '15 minutes', 'UTC', 0, now())
RETURNING id, created_at
"""


def _booking_app(book: Any, state: dict[str, Any]) -> Any:
    """A Starlette app answering ``POST /api/v1/appointments`` with ``book``; ``state["pool"]``
    is its asyncpg pool while it runs."""
    from starlette.applications import Starlette
    from starlette.routing import Route

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state["pool"] = await asyncpg.create_pool(os.environ["BENCH_DATABASE_URL"], max_size=10)
        yield
        await state["pool"].close()

    return Starlette(
        routes=[Route("/api/v1/appointments", book, methods=["POST"])], lifespan=lifespan
    )


def reference_app() -> Any:
    """Starlette + asyncpg: parse, insert (the exclusion constraint decides), answer JSON."""
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response

    # Who calls, by bearer token (looked up, not verified: the reference skips authentication).
    callers = {
        token: uuid.UUID(patient)
        for token, patient in json.loads(Path(os.environ["BENCH_CALLERS"]).read_text()).items()
    }
    state: dict[str, Any] = {}

    async def book(request: Request) -> Response:
        body = await request.json()
        patient = callers[request.headers["authorization"].removeprefix("Bearer ")]
        try:
            async with state["pool"].acquire() as conn:
                row = await conn.fetchrow(
                    _INSERT,
                    uuid.UUID(body["doctor_id"]),
                    patient,
                    datetime.fromisoformat(body["starts_at"]),
                )
        except asyncpg.ExclusionViolationError:
            return JSONResponse({"code": "slot_taken"}, status_code=409)
        return JSONResponse(
            {"id": str(row["id"]), "created_at": row["created_at"].isoformat(), **body},
            status_code=201,
        )

    return _booking_app(book, state)


# -- the floor -------------------------------------------------------------------------------------


def floor_app() -> Any:
    """Starlette + asyncpg sending the statements a CareBridge booking sends, in one transaction
    (CareBridge's own SQL, imported): the live-session check, the patient's lock, the facts,
    the appointment with its reminders and audit row, the doctor's recipient row, the
    notification with its deliveries, COMMIT, then the delivery job. What it leaves out is what
    the framework adds: FastAPI, SQLAlchemy's session, the signature check of the token, the
    slot computation, the response model. Its capacity is what this machine allows for the
    database work of a booking with a web process that costs next to nothing."""
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response

    from carebridge.accounts.queries import LIVE_SESSION, SessionOfToken
    from carebridge.compliance.service import audit_values
    from carebridge.notifications.models import Priority
    from carebridge.notifications.queries import WRITE_NOTIFICATIONS, NewNotifications
    from carebridge.notifications.service import load_recipients, plan
    from carebridge.platform.jobs import DEFER_JOBS, JobsToDefer
    from carebridge.platform.registry import load_models
    from carebridge.scheduling import schedules
    from carebridge.scheduling.kinds import APPOINTMENT_CHANGED
    from carebridge.scheduling.models import Appointment
    from carebridge.scheduling.queries import (
        BOOKING_FACTS,
        LOCK_PATIENT,
        WRITE_BOOKING,
        BookingQuestion,
        NewBooking,
        PatientLock,
    )

    load_models()  # the appointment's mapper refers to other domains' models
    # Who calls, by bearer token: the session and user in its claims (read, not verified).
    callers = {}
    for token in json.loads(Path(os.environ["BENCH_CALLERS"]).read_text()):
        claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
        callers[token] = (uuid.UUID(claims["sid"]), uuid.UUID(claims["sub"]))
    kind = APPOINTMENT_CHANGED
    state: dict[str, Any] = {}

    async def book(request: Request) -> Response:
        body = await request.json()
        session_id, patient = callers[request.headers["authorization"].removeprefix("Bearer ")]
        doctor = uuid.UUID(body["doctor_id"])
        start = datetime.fromisoformat(body["starts_at"])
        now = datetime.now(UTC)
        appointment, notification = uuid.uuid4(), uuid.uuid4()
        end = start + SLOT
        async with state["pool"].acquire() as conn:
            try:
                async with conn.transaction():
                    await conn.fetchrow(
                        LIVE_SESSION.sql,
                        *LIVE_SESSION.args(SessionOfToken(session_id, patient, now)),
                    )
                    await conn.execute(
                        LOCK_PATIENT.sql, *LOCK_PATIENT.args(PatientLock(str(patient)))
                    )
                    day = timedelta(days=1)
                    question = BookingQuestion(
                        doctor_id=doctor,
                        patient_id=patient,
                        type="video",
                        since=start - day,
                        until=start + timedelta(minutes=1) + day,
                        now=now,
                        idempotency_key=None,
                        held_since=start - day - schedules.LONGEST_HOLD,
                    )
                    await conn.fetchrow(BOOKING_FACTS.sql, *BOOKING_FACTS.args(question))
                    row = Appointment(
                        id=appointment, doctor_id=doctor, patient_id=patient, type="video",
                        status="scheduled", starts_at=start, ends_at=end, blocked_until=end,
                        time_zone="UTC", reason_sealed=None, hold_expires_at=None, fee=0,
                        currency="EUR", confirmed_at=now, idempotency_key=None,
                        request_hash=None, created_at=now,
                    )  # fmt: skip
                    due = [(m, start - timedelta(minutes=m)) for m in (1440, 60)]
                    logged = audit_values(
                        action="appointment.booked", actor_id=patient, actor_role="patient",
                        resource_type="appointment", resource_id=appointment, status="scheduled",
                    )  # fmt: skip
                    logged["details"] = json.dumps(logged["details"])
                    written = NewBooking(
                        appointment=row,
                        recipient_ids=[patient, doctor, patient, doctor],
                        minutes_before=[m for m, _ in due for _ in (1, 2)],
                        due_at=[at for _, at in due for _ in (1, 2)],
                        audit=logged,
                    )
                    await conn.execute(WRITE_BOOKING.sql, *WRITE_BOOKING.args(written))
                    (recipient,) = await load_recipients(conn, [doctor], kind.name)
                    planned = plan(kind, recipient, Priority.normal, now)
                    deliveries = [
                        (uuid.uuid4(), str(c), str(s), at, why, None) for c, s, at, why in planned
                    ]
                    notified = NewNotifications(
                        notification_ids=[notification],
                        recipient_ids=[doctor],
                        kind=kind.name,
                        title="New appointment",
                        body=f"The video call on {start:%a %d %b %Y, %H:%M} was booked with you.",
                        data=json.dumps({"appointment_id": str(appointment)}),
                        link=f"/appointments/{appointment}",
                        priority="normal",
                        dedup_key=None,
                        delivery_ids=[d[0] for d in deliveries],
                        delivery_notification_ids=[notification for _ in deliveries],
                        channels=[d[1] for d in deliveries],
                        statuses=[d[2] for d in deliveries],
                        next_attempt_at=[d[3] for d in deliveries],
                        last_errors=[d[4] for d in deliveries],
                        sent_at=[d[5] for d in deliveries],
                    )
                    await conn.execute(WRITE_NOTIFICATIONS.sql, *WRITE_NOTIFICATIONS.args(notified))
            except asyncpg.ExclusionViolationError:
                return JSONResponse({"code": "slot_taken"}, status_code=409)
            pending = [str(d[0]) for d in deliveries if d[2] == "pending"]
            if pending:
                jobs = JobsToDefer.of(
                    [("notifications", "notifications.deliver", 0, None, None,
                      json.dumps({"delivery_ids": pending}), None)]
                )  # fmt: skip
                await conn.fetch(DEFER_JOBS.sql, *DEFER_JOBS.args(jobs))
        return JSONResponse({"id": str(appointment), **body}, status_code=201)

    return _booking_app(book, state)


def main() -> None:
    uvloop.install()
    workers = os.environ.get("BENCH_WORKERS", "2")
    doctors = int(os.environ.get("BENCH_DOCTORS", "50"))
    patients = int(os.environ.get("BENCH_PATIENTS", "2000"))
    storm_size = int(os.environ.get("BENCH_STORM", "500"))
    rates = [int(r) for r in os.environ.get("BENCH_RATES", "100,200,300,500").split(",")]
    seconds = float(os.environ.get("BENCH_SECONDS", "10"))
    modes = os.environ.get("BENCH_MODES", "storm,carebridge,floor,reference").split(",")
    with tempfile.TemporaryDirectory() as tmp_dir, bench_database(Path(tmp_dir)) as url:
        tmp = Path(tmp_dir)
        # The data dir's development keys encrypt the signing keys made here: the server, given
        # the same data dir, must be able to decrypt them.
        settings = load_settings(database_url=url, data_dir=tmp, log_level="WARNING")
        configure_logging(settings)
        people = asyncio.run(prepare(settings, doctors, patients))
        print(f"{doctors} doctors, {patients} signed-in patients, {workers} web processes")
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("CAREBRIDGE_")},
            "CAREBRIDGE_DATABASE_URL": url,
            "CAREBRIDGE_DATA_DIR": str(tmp),
            "CAREBRIDGE_LOG_LEVEL": "WARNING",
            "CAREBRIDGE_AUTO_MIGRATE": "false",
            "CAREBRIDGE_IN_PROCESS_WORKER": "false",
            "CAREBRIDGE_MAX_FUTURE_APPOINTMENTS": "100",
        }
        plan = Plan(people, first=len(people["doctors"]))  # slot 0 of every doctor: the storm
        if "storm" in modes or "carebridge" in modes:
            port = free_port()
            command = [sys.executable, "-m", "carebridge", "serve", "--port", str(port),
                       "--workers", workers]  # fmt: skip
            with server(command, env, port, tmp / "carebridge.log"):
                if "storm" in modes:
                    asyncio.run(storm(port, people, storm_size, url, tmp / "carebridge.log"))
                if "carebridge" in modes:
                    sustained("carebridge", port, plan, rates, seconds, tmp / "carebridge.log")
        callers = tmp / "callers.json"
        callers.write_text(json.dumps(dict(zip(people["tokens"], people["patients"], strict=True))))
        for name in ("floor", "reference"):
            if name not in modes:
                continue
            port = free_port()
            command = [sys.executable, "-m", "uvicorn", f"bench.booking:{name}_app", "--factory",
                       "--port", str(port), "--workers", workers, "--loop", "uvloop", "--http",
                       "httptools", "--no-access-log", "--log-level", "warning"]  # fmt: skip
            ref_env = {**env, "BENCH_DATABASE_URL": url, "BENCH_CALLERS": str(callers)}
            with server(command, ref_env, port, tmp / f"{name}.log"):
                sustained(name, port, plan, rates, seconds, tmp / f"{name}.log")


if __name__ == "__main__":
    main()
