"""Visit tracking: nurses on the way sending their position, each to the patient watching the
map, over real WebSockets.

BENCH_VISITS (default 500) home visits, each en route with its own nurse and patient (the rows
are written beforehand). Every nurse and every patient has one WebSocket subscribed to the
visit's topic ``visit.<id>`` (the nurse's page follows its visit's status too). Each nurse sends
a ``position`` frame every BENCH_INTERVAL seconds (default 2), on a fixed schedule whatever the
answers (open loop), spread evenly: position k leaves nurse k mod N. A position's latency runs
from when it was due to when the *patient's* socket had the ``position`` event (one clock: the
load generator runs in this process); the position's number rides in ``accuracy_m``. A warm-up
round is not counted. The real page sends at most one position every 5 s; at 2 s the server
runs with ``CAREBRIDGE_VISIT_POSITION_SECONDS`` at half the interval (at least 0.5) so that every
position is stored (one answered ``too_soon`` is counted as refused, not lost).

Modes, measured by the same client in the same run:

- ``carebridge``: a real ``carebridge serve`` (one process, uvicorn with websockets-sansio,
  ``CAREBRIDGE_LOG_LEVEL=WARNING``, no in-process worker, no Redis), sockets opened with one-time
  tickets bound to sessions made beforehand. Each position is checked and stored by
  ``visits/tracking.py`` (the nurse's visit en route, the interval, in the storing ``UPDATE``),
  written to ``visit_positions`` and the nurse's last position, published after the commit.
- ``floor``: what a position cannot do without. A bare Starlette WebSocket endpoint + asyncpg
  under the same uvicorn settings, doing in one transaction the ``UPDATE home_visits SET last_*
  ... RETURNING`` of the home's point and the ``INSERT INTO visit_positions``, then the same
  ``position`` event (distance, estimate, near computed the same way) to the topic's sockets and
  the ``ack``. No ticket, who watches what held in memory, no rule checked, no interval, no
  nurse row, no ORM.
- ``bare``: the same endpoint without the transaction: the floor of relaying a frame from one
  socket to another here.

Reported per mode: positions sent, delivered to the patient, refused (``too_soon``), lost (not
delivered within 30 s of the end), duplicates, error frames, sockets the server closed,
p50/p99/max latency, the achieved rate and the server's CPU per position (the server process's
user + system time over the measured round, divided by the positions delivered); then the
ratios CareBridge/floor and CareBridge/bare of p50, p99 and CPU.

Environment: CAREBRIDGE_DATABASE_URL (a server to create the bench database on; else an
embedded PostgreSQL in a temporary folder), BENCH_VISITS (500), BENCH_INTERVAL (2),
BENCH_SECONDS (20), BENCH_MODES ("carebridge,floor,bare"), BENCH_JSON (a file to write the
report to), BENCH_PROFILE (a file: CareBridge's server runs under cProfile and writes it there).

Run the full size on a quiet machine: 1,000 sockets and a server process busy for the whole run
share the CPU with anything else running.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import uvloop

from bench.chat import _env, _masked, make_tickets
from bench.chat import _Socket as ChatSocket
from bench.doctors_list import bench_database, free_port, server
from bench.presence_fanout import _raise_fd_limit
from carebridge.config import Settings, load_settings
from carebridge.platform import patient_keys
from carebridge.platform.logging import configure_logging

DRAIN_SECONDS = 30.0
MODES = ("carebridge", "floor", "bare")
HOME = (45.7640, 4.8357)
ARRIVAL_METERS = 150
SPEED_KMH = 30.0


@dataclass(frozen=True)
class Watch:
    """One visit: its nurse and patient, and their sessions."""

    visit: str
    nurse: str
    patient: str
    nurse_session: str
    patient_session: str


# -- the visits ---------------------------------------------------------------------------------


async def prepare(settings: Settings, visits: int) -> list[Watch]:
    """Migrate; for each visit a nurse on the roster and a patient with live sessions, the visit
    walked to en route (the trigger allows nothing else)."""
    from carebridge.platform.db import Database
    from carebridge.platform.migrate import upgrade
    from carebridge.platform.registry import load_models

    load_models()
    database = Database.from_settings(settings)
    await upgrade(database.engine)
    watches: list[Watch] = []
    for first in range(0, visits, 250):
        async with database.transaction() as db:
            watches += await _visits(db, settings, range(first, min(visits, first + 250)))
    await database.dispose()
    return watches


async def _visits(db: Any, settings: Settings, batch: range) -> list[Watch]:
    from sqlalchemy import update

    from carebridge.accounts.models import AuthSession, Role, User, UserStatus
    from carebridge.platform.crypto import Keyring
    from carebridge.visits.models import Visit, VisitNurse
    from carebridge.visits.sealed import VISIT_ADDRESS

    now = datetime.now(UTC)
    keyring = Keyring.from_settings(settings)
    people = {
        (n, role): User(
            email=f"bench-visit-{role}-{n}@example.org", name=f"Bench {role} {n}", role=role,
            status=UserStatus.active, password_hash="x",
            approved_at=now if role == Role.nurse else None,
        )
        for n in batch
        for role in (Role.patient, Role.nurse)
    }  # fmt: skip
    db.add_all(people.values())
    await db.flush()
    sessions = {
        key: AuthSession(
            user_id=user.id, idle_expires_at=now + timedelta(days=1),
            absolute_expires_at=now + timedelta(days=1), last_used_at=now,
        )
        for key, user in people.items()
    }  # fmt: skip
    db.add_all(sessions.values())
    await db.flush()  # the sessions' ids
    db.add_all(
        VisitNurse(nurse_id=people[n, Role.nurse].id, skills=["wound_care"], on_duty=True)
        for n in batch
    )
    watches = []
    # The patients' data keys, which seal their visits' addresses.
    await patient_keys.unlock(db, keyring, [people[n, Role.patient].id for n in batch])
    for n in batch:
        patient, nurse = people[n, Role.patient], people[n, Role.nurse]
        visit = Visit(
            id=uuid.uuid4(), patient_id=patient.id, service="wound_care", lat=HOME[0],
            lng=HOME[1], window_start=now, window_end=now + timedelta(hours=2), seq=1,
        )  # fmt: skip
        visit.address_sealed = keyring.seal(VISIT_ADDRESS, visit, "3 place Bellecour, Lyon")
        db.add(visit)
        watches.append(
            Watch(
                str(visit.id),
                str(nurse.id),
                str(patient.id),
                str(sessions[n, Role.nurse].id),
                str(sessions[n, Role.patient].id),
            )
        )
    await db.flush()
    for watch in watches:
        for seq, status in enumerate(("assigned", "accepted", "en_route"), start=2):
            await db.execute(
                update(Visit)
                .where(Visit.id == uuid.UUID(watch.visit))
                .values(status=status, nurse_id=uuid.UUID(watch.nurse), seq=seq)
            )
    return watches


# -- the client: one protocol per socket, no task per socket ------------------------------------


@dataclass
class Step:
    due: list[float] = field(default_factory=list)  # position k -> when it was due (perf_counter)
    arrived: dict[int, float] = field(default_factory=dict)
    refused: int = 0
    duplicates: int = 0
    errors: int = 0
    first_error: str = ""
    done: asyncio.Event = field(default_factory=asyncio.Event)


class _Socket(ChatSocket):
    """chat's raw socket (handshake, pings, frames to ``client.frame``), subscribed to its
    visit's topic once open."""

    def __init__(self, client: Client, watch: Watch, request: bytes, nurse: bool) -> None:
        super().__init__(client, watch.nurse if nurse else watch.patient, request,  # type: ignore[arg-type]
                         f"visit.{watch.visit}")  # fmt: skip
        self.watch, self.nurse = watch, nurse


class Client:
    """Every nurse's and patient's socket, in this process (uvloop)."""

    def __init__(self) -> None:
        self.nurses: list[_Socket] = []
        self.sockets: list[_Socket] = []
        self.subscribed = 0
        self.step = Step()
        self.late = 0
        self.lost_sockets = 0
        self.closed: Counter[str] = Counter()  # close frames the server sent, by code and reason
        self.stopping = False

    def frame(self, socket: _Socket, payload: bytes, now: float) -> None:
        if payload.startswith(b'{"type":"event"') and b'"event":"position"' in payload:
            if not socket.nurse:
                self._delivered(json.loads(payload)["data"], now)
        elif payload.startswith(b'{"type":"ack"'):
            if b'"stored":false' in payload:
                self.step.refused += 1
        elif payload.startswith(b'{"type":"subscribed"'):
            self.subscribed += 1
        elif payload.startswith(b'{"type":"ping"'):
            socket.transport.write(_masked(b'{"type":"pong"}'))
        elif payload.startswith(b'{"type":"error"'):
            self.step.errors += 1
            self.step.first_error = self.step.first_error or payload.decode()[:300]

    def _delivered(self, data: dict[str, Any], now: float) -> None:
        step = self.step
        number = data.get("accuracy_m")
        k = -1 if number is None else int(number)
        if not 0 <= k < len(step.due) or step.due[k] == 0.0:
            self.late += 1
            return
        if k in step.arrived:
            step.duplicates += 1
            return
        step.arrived[k] = now
        if len(step.arrived) + step.refused >= len(step.due):
            step.done.set()

    async def connect(self, port: int, sockets: list[tuple[Watch, bool, str]]) -> None:
        """``sockets``: each visit's nurse (True) and patient (False) and their upgrade path."""
        loop = asyncio.get_running_loop()
        for watch, nurse, path in sockets:
            key = base64.b64encode(os.urandom(16)).decode()
            request = (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
            socket = _Socket(self, watch, request, nurse)
            self.sockets.append(socket)
            if nurse:
                self.nurses.append(socket)
            await loop.create_connection(lambda s=socket: s, "127.0.0.1", port)  # type: ignore[misc]
        deadline = time.monotonic() + 60
        while self.subscribed < len(sockets):
            await asyncio.sleep(0.01)
            if self.lost_sockets or time.monotonic() > deadline:
                raise SystemExit(f"{self.subscribed} subscriptions of {len(sockets)}")

    def close(self) -> None:
        self.stopping = True
        for socket in self.sockets:
            if socket.transport is not None:
                socket.transport.close()


def point(k: int, total: int) -> tuple[float, float]:
    """Position k: on the way from 3 km north of the home towards it."""
    f = k / max(total, 1)
    return HOME[0] + 0.027 * (1 - f), HOME[1]


def _position(watch: Watch, k: int, total: int) -> bytes:
    lat, lng = point(k, total)
    frame = {"type": "position", "visit_id": watch.visit, "lat": lat, "lng": lng, "accuracy_m": k}
    return _masked(json.dumps(frame).encode())


@dataclass
class Result:
    visits: int
    interval: float
    target: float  # positions a second, all nurses
    seconds: float
    sent: int
    delivered: int
    refused: int
    achieved: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    lost: int
    duplicates: int
    errors: int
    first_error: str
    sockets_closed: int = 0
    server_cpu_ms: float = 0.0  # the server process's CPU per delivered position


async def run_step(client: Client, interval: float, seconds: float) -> Result:
    nurses = client.nurses
    rate = len(nurses) / interval
    total = int(rate * seconds)
    assert total < 100_000, "the position's number rides in accuracy_m (at most 100,000)"
    frames = [(nurses[k % len(nurses)], _position(nurses[k % len(nurses)].watch, k, total))
              for k in range(total)]  # fmt: skip
    step = Step(due=[0.0] * total)
    client.step = step
    start = time.perf_counter() + 0.05
    sent = 0
    while sent < total:
        due_count = min(total, int((time.perf_counter() - start) * rate) + 1)
        while sent < due_count:
            socket, frame = frames[sent]
            step.due[sent] = start + sent / rate
            socket.transport.write(frame)
            sent += 1
        await asyncio.sleep(0.001)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(step.done.wait(), timeout=DRAIN_SECONDS)
    latencies = sorted((at - step.due[k]) * 1000 for k, at in step.arrived.items()) or [0.0]
    last = max(step.arrived.values(), default=start + seconds)
    return Result(
        visits=len(nurses), interval=interval, target=rate, seconds=seconds, sent=total,
        delivered=len(step.arrived), refused=step.refused,
        achieved=len(step.arrived) / max(seconds, last - start),
        p50_ms=statistics.median(latencies),
        p99_ms=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        max_ms=latencies[-1], lost=total - len(step.arrived) - step.refused,
        duplicates=step.duplicates, errors=step.errors, first_error=step.first_error,
    )  # fmt: skip


def _server_cpu() -> float:
    return sum(
        t.user + t.system for child in psutil.Process().children(recursive=True)
        for t in [child.cpu_times()]
    )  # fmt: skip


async def measure(
    port: int, sockets: list[tuple[Watch, bool, str]], interval: float, seconds: float, mode: str
) -> Result:
    client = Client()
    await client.connect(port, sockets)
    try:
        # Warm up (not counted): one round, then as long again for every interval to pass.
        await run_step(client, interval, interval)
        await asyncio.sleep(interval)
        cpu, closed = _server_cpu(), client.lost_sockets
        result = await run_step(client, interval, seconds)
        result.sockets_closed = client.lost_sockets - closed
        result.server_cpu_ms = (_server_cpu() - cpu) * 1000 / max(1, result.delivered)
        _print(mode, result)
        return result
    finally:
        client.close()


# -- the floor and the bare relay ---------------------------------------------------------------

_STORE = """
UPDATE home_visits SET last_lat = $2, last_lng = $3, last_accuracy_m = $4, last_position_at = $5
WHERE id = $1 RETURNING lat, lng
"""
_INSERT = """
INSERT INTO visit_positions (visit_id, at, lat, lng, accuracy_m) VALUES ($1, $2, $3, $4, $5)
"""


def _distance(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((phi2 - phi1) / 2) ** 2
        + math.cos(phi1) * math.cos(phi2) * math.sin(math.radians(lng2 - lng1) / 2) ** 2
    )
    return 2 * 6_371_008.8 * math.asin(min(1.0, math.sqrt(a)))


def floor_app() -> Any:
    """``uvicorn --factory bench.visit_tracking:floor_app``: ``WS /ws?user=<id>``; frames
    ``subscribe`` and ``position`` as CareBridge's gateway takes them. BENCH_FLOOR_STORE=0:
    nothing is stored (the bare relay; the home's point is read once at start)."""
    import asyncpg
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    store = os.environ.get("BENCH_FLOOR_STORE", "1") == "1"
    state: dict[str, Any] = {}
    homes: dict[uuid.UUID, tuple[float, float]] = {}
    subscribers: dict[str, set[WebSocket]] = {}

    async def position(ws: WebSocket, frame: dict[str, Any]) -> None:
        visit = uuid.UUID(frame["visit_id"])
        lat, lng, accuracy, now = (
            frame["lat"],
            frame["lng"],
            frame.get("accuracy_m"),
            datetime.now(UTC),
        )
        home = homes[visit]
        if store:
            async with state["pool"].acquire() as conn, conn.transaction():
                row = await conn.fetchrow(_STORE, visit, lat, lng, accuracy, now)
                await conn.execute(_INSERT, visit, now, lat, lng, accuracy)
            home = (row["lat"], row["lng"])
        distance = _distance(lat, lng, *home)
        data = {
            "visit_id": str(visit), "lat": lat, "lng": lng, "accuracy_m": accuracy,
            "at": now.isoformat(), "distance_m": round(distance, 1),
            "eta_minutes": max(1, math.ceil(distance / (SPEED_KMH * 1000 / 60))),
            "near": distance <= ARRIVAL_METERS,
        }  # fmt: skip
        topic = f"visit.{visit}"
        event = json.dumps(
            {"type": "event", "topic": topic, "event": "position", "data": data, "seq": None},
            separators=(",", ":"),
        )
        for subscriber in list(subscribers.get(topic, ())):
            with contextlib.suppress(Exception):
                await subscriber.send_text(event)
        await ws.send_text(json.dumps({"type": "ack", "of": "position", "stored": True, **data}))

    async def relay(ws: WebSocket) -> None:
        await ws.accept()
        topics: set[str] = set()
        try:
            while True:
                frame = json.loads(await ws.receive_text())
                if frame["type"] == "position":
                    await position(ws, frame)
                elif frame["type"] == "subscribe":
                    topic = frame["topic"]
                    subscribers.setdefault(topic, set()).add(ws)
                    topics.add(topic)
                    await ws.send_text(f'{{"type":"subscribed","topic":"{topic}"}}')
                elif frame["type"] == "ping":
                    await ws.send_text('{"type":"pong"}')
        except WebSocketDisconnect:
            pass
        finally:
            for topic in topics:
                subscribers[topic].discard(ws)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state["pool"] = await asyncpg.create_pool(os.environ["BENCH_DATABASE_URL"], max_size=10)
        for row in await state["pool"].fetch("SELECT id, lat, lng FROM home_visits"):
            homes[row["id"]] = (row["lat"], row["lng"])
        yield
        await state["pool"].close()

    return Starlette(routes=[WebSocketRoute("/ws", relay)], lifespan=lifespan)


# -- the run ------------------------------------------------------------------------------------


@contextmanager
def _serving(mode: str, url: str, tmp: Path, interval: float) -> Iterator[int]:
    port = free_port()
    env = _env(url, tmp) | {
        # Half the interval: every position is stored whatever the jitter of its arrival.
        "CAREBRIDGE_VISIT_POSITION_SECONDS": str(max(0.5, interval / 2)),
        "BENCH_FLOOR_STORE": "0" if mode == "bare" else "1",
    }
    if mode == "carebridge":
        profile = os.environ.get("BENCH_PROFILE")
        wrap = ["-m", "cProfile", "-o", profile] if profile else []
        command = [sys.executable, *wrap, "-m", "carebridge", "serve", "--port", str(port)]
    else:
        command = [sys.executable, "-m", "uvicorn", "bench.visit_tracking:floor_app", "--factory",
                   "--port", str(port), "--loop", "uvloop", "--http", "httptools",
                   "--ws", "websockets-sansio", "--ws-per-message-deflate", "false",
                   "--ws-max-size", str(1024 * 1024), "--no-access-log",
                   "--log-level", "warning"]  # fmt: skip
    with server(command, env, port, tmp / f"{mode}.log"):
        yield port


async def _upgrades(mode: str, url: str, watches: list[Watch]) -> list[tuple[Watch, bool, str]]:
    people = [(w, nurse) for w in watches for nurse in (True, False)]
    if mode != "carebridge":
        return [(w, nurse, f"/ws?user={w.nurse if nurse else w.patient}") for w, nurse in people]
    sessions = [w.nurse_session if nurse else w.patient_session for w, nurse in people]
    tickets = await make_tickets(url, sessions)
    return [
        (w, nurse, f"/api/v1/ws?ticket={ticket}")
        for (w, nurse), ticket in zip(people, tickets, strict=True)
    ]


def run(
    visits: int,
    interval: float,
    seconds: float,
    modes: tuple[str, ...] = MODES,
    server_url: str | None = None,
) -> dict[str, Any]:
    """Prepare a fresh database, measure each mode, and answer the report: each mode's result
    and the ratios CareBridge/floor and CareBridge/bare."""
    _raise_fd_limit()
    report: dict[str, Any] = {"visits": visits, "sockets": 2 * visits, "modes": {}, "ratios": {}}
    with (
        tempfile.TemporaryDirectory() as folder,
        bench_database(Path(folder), server_url) as url,
        asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner,
    ):
        tmp = Path(folder)
        settings = load_settings(database_url=url, data_dir=tmp, log_level="WARNING")
        watches = runner.run(prepare(settings, visits))
        for mode in modes:
            with _serving(mode, url, tmp, interval) as port:
                upgrades = runner.run(_upgrades(mode, url, watches))
                result = runner.run(measure(port, upgrades, interval, seconds, mode))
            report["modes"][mode] = asdict(result)
    ours = report["modes"].get("carebridge")
    for floor in ("floor", "bare"):
        theirs = report["modes"].get(floor)
        if ours is None or theirs is None:
            continue
        report["ratios"][floor] = {
            name: ours[key] / max(theirs[key], 1e-3)
            for name, key in (("p50", "p50_ms"), ("p99", "p99_ms"), ("cpu", "server_cpu_ms"))
        }
    return report


def _print(mode: str, r: Result) -> None:
    print(
        f"{mode:<11} {r.visits} visits, {r.target:.0f} positions/s  achieved {r.achieved:7.1f}/s"
        f"  p50 {r.p50_ms:6.2f} ms  p99 {r.p99_ms:6.2f} ms  max {r.max_ms:7.2f} ms"
        f"  sent {r.sent}  refused {r.refused}  lost {r.lost}  dup {r.duplicates}"
        f"  errors {r.errors}  closed {r.sockets_closed}"
        f"  server CPU/position {r.server_cpu_ms:.2f} ms",
        flush=True,
    )
    if r.first_error:
        print(f"  first error: {r.first_error}", flush=True)


def main() -> None:
    visits = int(os.environ.get("BENCH_VISITS", "500"))
    interval = float(os.environ.get("BENCH_INTERVAL", "2"))
    seconds = float(os.environ.get("BENCH_SECONDS", "20"))
    modes = tuple(os.environ.get("BENCH_MODES", ",".join(MODES)).split(","))
    print(f"{visits} visits ({2 * visits} sockets), a position every {interval} s per nurse, "
          f"{seconds} s")  # fmt: skip
    configure_logging(load_settings(log_level="WARNING"))
    report = run(visits, interval, seconds, modes)
    for floor, ratio in report["ratios"].items():
        print(
            f"carebridge/{floor}: p50 {ratio['p50']:.2f}x  p99 {ratio['p99']:.2f}x"
            f"  CPU/position {ratio['cpu']:.2f}x"
        )
    if os.environ.get("BENCH_JSON"):
        Path(os.environ["BENCH_JSON"]).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
