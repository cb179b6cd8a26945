"""Call signaling: how long a WebRTC signal takes from one peer's socket to the other's, under
many concurrent calls.

BENCH_CALLS (default 200) calls, each of two peers in the call (a patient and a doctor of a
video appointment whose room is open: the rows are written beforehand, so joining is not
measured), each peer with its own WebSocket subscribed to the call's two topics (``call.<A>``
and ``call.<A>.<P>``). Every peer sends ``candidate`` signals (the size of a real ICE candidate)
to the other at a steady rate, on a fixed schedule whatever the answers (open loop): signal k
leaves peer k mod 2C. The rates per peer of BENCH_PEER_RATES (default 0.25, 0.5 and 1 a
second: 100, 200 and 400 signals a second over 200 calls) run in turn, stopping after a step
whose p99 passed 5 s. Its latency runs from when it
was due to when the *other* peer's socket had the ``signal`` event (one clock: the load
generator runs in this process). A warm-up second is not counted.

Two modes, measured by the same client in the same run:

- ``carebridge``: a real ``carebridge serve`` (one process, uvicorn with websockets-sansio,
  ``CAREBRIDGE_LOG_LEVEL=WARNING``, no in-process worker, no Redis). Peers connect with one-time
  tickets bound to their sessions (made in the database beforehand). Each signal is checked
  against the database (both peers in the call now) and published on the recipient's topic.
- ``bare``: a minimal relay (a ``websockets`` server on uvloop) that forwards each signal to the
  socket of its ``to`` peer as the same ``signal`` event frame and acks the sender: no ticket, no
  checks, no database, no broker. The floor of relaying a frame between two sockets here.

Reported per mode: signals sent and delivered, lost (not delivered within 30 s of the end),
duplicates, misdelivered (to another peer than ``to``), error frames, p50/p99/max latency, the
achieved rate and the server's CPU per signal; then, per rate, the ratios CareBridge/bare of
p50 and p99.

Environment: CAREBRIDGE_DATABASE_URL (a server to create the bench database on; else an
embedded PostgreSQL in a temporary folder), BENCH_CALLS (200), BENCH_PEER_RATES ("0.25,0.5,1"),
BENCH_SECONDS (10 a rate), BENCH_MODES ("carebridge,bare"), BENCH_JSON (a file to write the
report to), BENCH_PROFILE (a file: CareBridge's server runs under cProfile and writes its
profile there).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
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
from carebridge.platform.logging import configure_logging

DRAIN_SECONDS = 30.0
SATURATED_P99_MS = 5000.0
MODES = ("carebridge", "bare")
# What a browser trickles: one server-reflexive candidate (RTCIceCandidate.toJSON()).
CANDIDATE = (
    "candidate:842163049 1 udp 1677729535 203.0.113.7 46154 typ srflx raddr 10.0.0.5 "
    "rport 46154 generation 0 ufrag sXy2 network-cost 999"
)


@dataclass(frozen=True)
class Peer:
    appointment: str
    peer: str
    partner: str  # the other peer of the call
    session: str


# -- the calls ----------------------------------------------------------------------------------


async def prepare(settings: Settings, calls: int) -> list[Peer]:
    """Migrate; for each call a patient and an approved doctor with live sessions, a video
    appointment whose room is open, its call and both peers in it."""
    from carebridge.platform.db import Database
    from carebridge.platform.migrate import upgrade
    from carebridge.platform.registry import load_models

    load_models()
    database = Database.from_settings(settings)
    await upgrade(database.engine)
    peers: list[Peer] = []
    for first in range(0, calls, 250):
        async with database.transaction() as db:
            peers += await _calls(db, range(first, min(calls, first + 250)))
    await database.dispose()
    return peers


async def _calls(db: Any, batch: range) -> list[Peer]:
    from carebridge.accounts.models import AuthSession, Role, User, UserStatus
    from carebridge.scheduling.models import Appointment
    from carebridge.video.models import Call, CallParticipant

    now = datetime.now(UTC)
    people = {
        (n, role): User(
            email=f"bench-call-{role}-{n}@example.org", name=f"Bench {role} {n}", role=role,
            status=UserStatus.active, password_hash="x",
            approved_at=now if role == Role.doctor else None,
        )
        for n in batch
        for role in (Role.patient, Role.doctor)
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
    starts = now.replace(microsecond=0) + timedelta(minutes=5)  # the room opened 5 minutes ago
    peers = []
    for n in batch:
        patient, doctor = people[n, Role.patient], people[n, Role.doctor]
        appointment = Appointment(
            id=uuid.uuid4(), doctor_id=doctor.id, patient_id=patient.id, type="video",
            status="scheduled", starts_at=starts, ends_at=starts + timedelta(minutes=30),
            blocked_until=starts + timedelta(minutes=30), time_zone="UTC", fee=0,
        )  # fmt: skip
        call = Call(id=uuid.uuid4(), appointment_id=appointment.id, connected_at=now)
        ids = (uuid.uuid4(), uuid.uuid4())
        joined = [
            CallParticipant(
                id=peer_id, call_id=call.id, user_id=user.id, role=str(user.role),
                state="in_call", joined_at=now, admitted_at=now, last_seen_at=now,
            )
            for peer_id, user in zip(ids, (patient, doctor), strict=True)
        ]  # fmt: skip
        for row in (appointment, call):  # no relationships to order the flush by
            db.add(row)
            await db.flush()
        db.add_all(joined)
        for (peer_id, partner), user in zip(((0, 1), (1, 0)), (patient, doctor), strict=True):
            session = str(sessions[n, user.role].id)
            peers.append(Peer(str(appointment.id), str(ids[peer_id]), str(ids[partner]), session))
    await db.flush()
    return peers


# -- the client: one protocol per socket, no task per socket ------------------------------------


@dataclass
class Step:
    due: list[float] = field(default_factory=list)  # signal k -> when it was due (perf_counter)
    arrived: dict[int, float] = field(default_factory=dict)
    duplicates: int = 0
    misdelivered: int = 0
    errors: int = 0
    first_error: str = ""
    done: asyncio.Event = field(default_factory=asyncio.Event)


class _Socket(ChatSocket):
    """chat's raw socket (handshake, pings, frames to ``client.frame``), subscribed to a
    peer's two call topics once open."""

    def __init__(self, client: Client, peer: Peer, request: bytes) -> None:
        self.client, self.peer, self.request = client, peer, request  # type: ignore[assignment]
        self.subscribe = b"".join(
            _masked(json.dumps({"type": "subscribe", "topic": topic}).encode())
            for topic in (f"call.{peer.appointment}", f"call.{peer.appointment}.{peer.peer}")
        )
        self.buffer = b""
        self.open = False
        self.transport: Any = None


class Client:
    """Every peer's socket, in this process (uvloop)."""

    def __init__(self) -> None:
        self.sockets: dict[str, _Socket] = {}  # by peer id
        self.subscribed = 0
        self.step = Step()
        self.late = 0
        self.lost_sockets = 0
        self.closed: Counter[str] = Counter()  # close frames the server sent, by code and reason
        self.stopping = False

    def frame(self, socket: _Socket, payload: bytes, now: float) -> None:
        if payload.startswith(b'{"type":"ack"'):
            return
        if payload.startswith(b'{"type":"event"') and b'"event":"signal"' in payload:
            self._delivered(socket, json.loads(payload)["data"], now)
        elif payload.startswith(b'{"type":"subscribed"'):
            self.subscribed += 1
        elif payload.startswith(b'{"type":"error"'):
            self.step.errors += 1
            self.step.first_error = self.step.first_error or payload.decode()[:300]

    def _delivered(self, socket: _Socket, data: dict[str, Any], now: float) -> None:
        step = self.step
        k = data["data"].get("bench")
        if not isinstance(k, int) or k >= len(step.due) or step.due[k] == 0.0:
            self.late += 1
            return
        if data["from"] != socket.peer.partner:
            step.misdelivered += 1
        if k in step.arrived:
            step.duplicates += 1
            return
        step.arrived[k] = now
        if len(step.arrived) == len(step.due):
            step.done.set()

    async def connect(self, port: int, peers: list[tuple[Peer, str]]) -> None:
        """``peers``: each peer and the path of its upgrade."""
        loop = asyncio.get_running_loop()
        for peer, path in peers:
            key = base64.b64encode(os.urandom(16)).decode()
            request = (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
            socket = _Socket(self, peer, request)
            self.sockets[peer.peer] = socket
            await loop.create_connection(lambda s=socket: s, "127.0.0.1", port)  # type: ignore[misc]
        deadline = time.monotonic() + 60
        while self.subscribed < 2 * len(self.sockets):
            await asyncio.sleep(0.01)
            if self.lost_sockets or time.monotonic() > deadline:
                raise SystemExit(f"{self.subscribed} subscriptions of {2 * len(self.sockets)}")

    def close(self) -> None:
        self.stopping = True
        for socket in self.sockets.values():
            if socket.transport is not None:
                socket.transport.close()


def _signal(peer: Peer, k: int) -> bytes:
    frame = {
        "type": "signal", "appointment_id": peer.appointment, "from": peer.peer,
        "to": peer.partner, "kind": "candidate",
        "data": {"candidate": CANDIDATE, "sdpMid": "0", "sdpMLineIndex": 0,
                 "usernameFragment": "sXy2", "bench": k},
    }  # fmt: skip
    return _masked(json.dumps(frame).encode())


@dataclass
class Result:
    calls: int
    peer_rate: float
    target: float  # signals a second, all peers
    seconds: float
    sent: int
    delivered: int
    achieved: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    lost: int
    duplicates: int
    misdelivered: int
    errors: int
    first_error: str
    sockets_closed: int = 0
    server_cpu_ms: float = 0.0  # the server process's CPU per delivered signal


async def run_step(client: Client, peer_rate: float, seconds: float) -> Result:
    peers = [socket.peer for socket in client.sockets.values()]
    rate = peer_rate * len(peers)
    total = int(rate * seconds)
    frames = [(peers[k % len(peers)].peer, _signal(peers[k % len(peers)], k)) for k in range(total)]
    step = Step(due=[0.0] * total)
    client.step = step
    start = time.perf_counter() + 0.05
    sent = 0
    while sent < total:
        due_count = min(total, int((time.perf_counter() - start) * rate) + 1)
        while sent < due_count:
            sender, frame = frames[sent]
            step.due[sent] = start + sent / rate
            client.sockets[sender].transport.write(frame)
            sent += 1
        await asyncio.sleep(0.001)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(step.done.wait(), timeout=DRAIN_SECONDS)
    latencies = sorted((at - step.due[k]) * 1000 for k, at in step.arrived.items()) or [0.0]
    last = max(step.arrived.values(), default=start + seconds)
    return Result(
        calls=len(peers) // 2, peer_rate=peer_rate, target=rate, seconds=seconds, sent=total,
        delivered=len(step.arrived), achieved=len(step.arrived) / max(seconds, last - start),
        p50_ms=statistics.median(latencies),
        p99_ms=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        max_ms=latencies[-1], lost=total - len(step.arrived), duplicates=step.duplicates,
        misdelivered=step.misdelivered, errors=step.errors, first_error=step.first_error,
    )  # fmt: skip


def _server_cpu() -> float:
    return sum(
        t.user + t.system for child in psutil.Process().children(recursive=True)
        for t in [child.cpu_times()]
    )  # fmt: skip


async def quiet(client: Client, seconds: float = 1.0, cap: float = 60.0) -> None:
    """Wait until no late delivery came for ``seconds`` (a saturated step's backlog drains
    before the next step starts)."""
    deadline = time.monotonic() + cap
    while time.monotonic() < deadline:
        before = client.late
        await asyncio.sleep(seconds)
        if client.late == before:
            return


async def measure(
    port: int, peers: list[tuple[Peer, str]], peer_rates: list[float], seconds: float, mode: str
) -> list[Result]:
    """Each rate in turn (stopping after a step that queued for seconds: higher ones only
    queue more)."""
    client = Client()
    await client.connect(port, peers)
    results: list[Result] = []
    try:
        await run_step(client, peer_rates[0], 1.0)  # warm up: not counted
        await quiet(client)
        for peer_rate in peer_rates:
            cpu, closed = _server_cpu(), client.lost_sockets
            result = await run_step(client, peer_rate, seconds)
            result.sockets_closed = client.lost_sockets - closed
            result.server_cpu_ms = (_server_cpu() - cpu) * 1000 / max(1, result.delivered)
            results.append(result)
            _print(mode, result)
            if result.p99_ms > SATURATED_P99_MS:
                break
            await quiet(client)
        return results
    finally:
        client.close()


# -- the bare relay -----------------------------------------------------------------------------


async def _bare(port: int) -> None:
    """``WS /ws?peer=<id>``: ``subscribe`` is confirmed, a ``signal`` goes to the socket of its
    ``to`` as the event CareBridge sends, and is acked. Nothing is checked."""
    from websockets.asyncio.server import ServerConnection, serve

    sockets: dict[str, ServerConnection] = {}
    ack = '{"type":"ack","of":"signal","delivered":true}'

    async def relay(ws: ServerConnection) -> None:
        assert ws.request is not None
        peer = ws.request.path.partition("peer=")[2]
        sockets[peer] = ws
        try:
            async for raw in ws:
                frame = json.loads(raw)
                if frame["type"] == "signal":
                    to, appointment = frame["to"], frame["appointment_id"]
                    data = {
                        "appointment_id": appointment, "from": frame["from"], "user_id": peer,
                        "kind": frame["kind"], "data": frame["data"],
                    }  # fmt: skip
                    event = {"type": "event", "topic": f"call.{appointment}.{to}",
                             "event": "signal", "data": data}  # fmt: skip
                    partner = sockets.get(to)
                    if partner is not None:
                        with contextlib.suppress(Exception):
                            await partner.send(json.dumps(event, separators=(",", ":")))
                    await ws.send(ack)
                elif frame["type"] == "subscribe":
                    topic = frame["topic"]
                    await ws.send(f'{{"type":"subscribed","topic":"{topic}"}}')
        finally:
            sockets.pop(peer, None)

    async with serve(relay, "127.0.0.1", port, compression=None, max_size=2**20):
        await asyncio.Future()


def bare_main() -> None:
    """``python -m bench.call_signaling bare <port>``."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_bare(int(sys.argv[2])))


# -- the run ------------------------------------------------------------------------------------


@contextmanager
def _serving(mode: str, url: str, tmp: Path) -> Iterator[int]:
    port = free_port()
    if mode == "carebridge":
        # BENCH_PROFILE=<file>: the server runs under cProfile and writes its profile there.
        profile = os.environ.get("BENCH_PROFILE")
        wrap = ["-m", "cProfile", "-o", profile] if profile else []
        command = [sys.executable, *wrap, "-m", "carebridge", "serve", "--port", str(port)]
    else:
        command = [sys.executable, "-m", "bench.call_signaling", "bare", str(port)]
    # Peers that post no stats would be taken out by the silence sweep: not in this bench.
    env = _env(url, tmp) | {"CAREBRIDGE_CALL_SILENT_SECONDS": "3600"}
    with server(command, env, port, tmp / f"{mode}.log"):
        yield port


async def _upgrades(mode: str, url: str, peers: list[Peer]) -> list[tuple[Peer, str]]:
    if mode == "bare":
        return [(peer, f"/ws?peer={peer.peer}") for peer in peers]
    tickets = await make_tickets(url, [peer.session for peer in peers])
    return [(peer, f"/api/v1/ws?ticket={t}") for peer, t in zip(peers, tickets, strict=True)]


def run(
    calls: int,
    peer_rates: list[float],
    seconds: float,
    modes: tuple[str, ...] = MODES,
    server_url: str | None = None,
) -> dict[str, Any]:
    """Prepare a fresh database, measure each mode, and answer the report: per mode its steps,
    and per rate both modes ran the ratios CareBridge/bare of p50 and p99."""
    _raise_fd_limit()
    report: dict[str, Any] = {"calls": calls, "peers": 2 * calls, "modes": {}, "ratios": []}
    with (
        tempfile.TemporaryDirectory() as folder,
        bench_database(Path(folder), server_url) as url,
        asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner,
    ):
        tmp = Path(folder)
        settings = load_settings(database_url=url, data_dir=tmp, log_level="WARNING")
        peers = runner.run(prepare(settings, calls))
        for mode in modes:
            with _serving(mode, url, tmp) as port:
                upgrades = runner.run(_upgrades(mode, url, peers))
                results = runner.run(measure(port, upgrades, peer_rates, seconds, mode))
            report["modes"][mode] = [asdict(result) for result in results]
    ours, bare = report["modes"].get("carebridge", []), report["modes"].get("bare", [])
    for mine, floor in zip(ours, bare, strict=False):
        report["ratios"].append(
            {
                "signals_per_second": mine["target"],
                "p50": mine["p50_ms"] / max(floor["p50_ms"], 1e-3),
                "p99": mine["p99_ms"] / max(floor["p99_ms"], 1e-3),
            }
        )
    return report


def _print(mode: str, r: Result) -> None:
    print(
        f"{mode:<11} {r.calls} calls, {r.target:.0f} signals/s  achieved {r.achieved:7.1f}/s"
        f"  p50 {r.p50_ms:6.2f} ms  p99 {r.p99_ms:6.2f} ms  max {r.max_ms:7.2f} ms"
        f"  sent {r.sent}  lost {r.lost}  dup {r.duplicates}  misdelivered {r.misdelivered}"
        f"  errors {r.errors}  closed {r.sockets_closed}"
        f"  server CPU/signal {r.server_cpu_ms:.2f} ms",
        flush=True,
    )
    if r.first_error:
        print(f"  first error: {r.first_error}", flush=True)


def main() -> None:
    calls = int(os.environ.get("BENCH_CALLS", "200"))
    rates = [float(r) for r in os.environ.get("BENCH_PEER_RATES", "0.25,0.5,1").split(",")]
    seconds = float(os.environ.get("BENCH_SECONDS", "10"))
    modes = tuple(os.environ.get("BENCH_MODES", ",".join(MODES)).split(","))
    print(f"{calls} calls ({2 * calls} peers), {rates} signals/s per peer, {seconds} s a rate")
    configure_logging(load_settings(log_level="WARNING"))
    report = run(calls, rates, seconds, modes)
    for ratio in report["ratios"]:
        print(
            f"carebridge/bare at {ratio['signals_per_second']:.0f} signals/s:"
            f" p50 {ratio['p50']:.2f}x  p99 {ratio['p99']:.2f}x"
        )
    if os.environ.get("BENCH_JSON"):
        Path(os.environ["BENCH_JSON"]).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    if sys.argv[1:2] == ["bare"]:
        bare_main()
    else:
        main()
