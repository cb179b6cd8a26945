"""Chat: members of conversations sending messages at a constant rate over real WebSockets.

BENCH_CONVERSATIONS (default 500) conversations, each of a patient and a doctor (1,000 members),
each the conversation of an upcoming appointment between them (so both may write). Every member
has one WebSocket open and subscribed to ``conversation.<id>``. Messages leave on a fixed
schedule whatever the answers (open loop): message k goes to conversation k mod C, sent by its
patient and its doctor in turn, as a ``send`` client frame. The latency of a message runs from
the moment it was due to the moment its ``message.created`` frame reached the *other* member's
socket (one clock: the load generator runs in this process). A warm-up step is not counted.

Two modes, measured by the same client in the same run:

- ``carebridge``: a real ``carebridge serve`` (one process, uvicorn with websockets-sansio,
  ``CAREBRIDGE_LOG_LEVEL=WARNING``, no in-process worker). Members sign in with one-time tickets
  bound to their sessions (made in the database beforehand, so sign-in is not measured).
- ``floor``: a bare Starlette WebSocket endpoint + asyncpg under the same uvicorn settings, doing
  what a send cannot do without: the same ``UPDATE conversations SET last_seq = last_seq + 1 ...
  RETURNING`` and the same ``INSERT INTO messages`` of the text sealed with AES-256-GCM (same
  size as CareBridge's, bound to the message), in one transaction, then the ``message.created``
  frame (the same JSON) to the conversation's subscribed sockets and the ``ack`` to the sender.
  No ticket, membership in memory, no audit, no idempotency lookup, no read position, no unread
  counts, no absent-member check.

Per rate: achieved rate (messages delivered to their recipient per second, until the last one
arrived), p50/p99/max latency, the sends answered ``busy`` (overload shed by the server: sent
again after 50 ms with the same client id, as a client does, their latency still counted from
when they were first due), and the faults: errors (other error frames), lost (not delivered within
30 s of the end of sending), duplicates (delivered twice), out of order (a recipient got a lower
``seq`` after a higher one of the same conversation). Rates run in turn; after the listed ones,
while the last step was not saturated (achieved >= 95 % of the target and p99 <= 1 s), the rate
doubles until it is (up to BENCH_PROBE_MAX, default 8,000/s), so each mode's saturation rate (the
highest achieved rate) is measured; with BENCH_PROBE=0 it is only a lower bound.

Environment: CAREBRIDGE_DATABASE_URL (a server to create the bench database on; else an embedded
PostgreSQL in a temporary folder), BENCH_CONVERSATIONS (500), BENCH_RATES ("100,300,1000"),
BENCH_SECONDS (10), BENCH_MODES ("carebridge,floor"), BENCH_PROBE (1), BENCH_PROBE_MAX,
BENCH_JSON (a file to write the report to), BENCH_PROFILE (a file: CareBridge's server runs under
cProfile and writes its profile there), BENCH_LOGS (a folder: the server's log is copied there when
it closed sockets).
Targets (docs/performance.md): p99 <= 50 ms at 300 messages/s; saturation >= 0.7 x the floor's.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import itertools
import json
import os
import secrets
import shutil
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

import asyncpg
import psutil
import uvloop
from sqlalchemy.engine import make_url
from websockets.frames import Frame, Opcode

from bench.booking import _log_tail
from bench.doctors_list import bench_database, free_port, server
from bench.presence_fanout import _next_frame, _raise_fd_limit, after_handshake
from carebridge.config import Settings, load_settings
from carebridge.platform.logging import configure_logging

TEXT_CHARS = 160  # a typical chat message
DRAIN_SECONDS = 30.0
BUSY_RETRY_SECONDS = 0.05
SATURATED_P99_MS = 1000.0
MODES = ("carebridge", "floor")


@dataclass(frozen=True)
class Pair:
    conversation: str
    patient: str
    doctor: str
    sessions: tuple[str, str]  # the patient's, the doctor's


# -- the people ---------------------------------------------------------------------------------


async def prepare(settings: Settings, conversations: int) -> list[Pair]:
    """Migrate; for each conversation a patient and an approved doctor with live sessions, an
    upcoming appointment between them and its conversation with both as members."""
    from carebridge.platform.db import Database
    from carebridge.platform.migrate import upgrade
    from carebridge.platform.registry import load_models

    load_models()
    database = Database.from_settings(settings)
    await upgrade(database.engine)
    pairs: list[Pair] = []
    for first in range(0, conversations, 250):
        async with database.transaction() as db:
            pairs += await _pairs(db, range(first, min(conversations, first + 250)))
    await database.dispose()
    return pairs


async def _pairs(db: Any, batch: range) -> list[Pair]:
    from carebridge.accounts.models import AuthSession, Role, User, UserStatus

    now = datetime.now(UTC)
    people = {
        (n, role): User(
            email=f"bench-{role}-{n}@example.org",
            name=f"Bench {role} {n}",
            role=role,
            status=UserStatus.active,
            password_hash="x",
            approved_at=now if role == Role.doctor else None,
        )
        for n in batch
        for role in (Role.patient, Role.doctor)
    }
    db.add_all(people.values())
    await db.flush()
    sessions = {
        key: AuthSession(
            user_id=user.id,
            idle_expires_at=now + timedelta(days=1),
            absolute_expires_at=now + timedelta(days=1),
            last_used_at=now,
        )
        for key, user in people.items()
    }
    db.add_all(sessions.values())
    pairs = []
    for n in batch:
        patient, doctor = people[n, Role.patient], people[n, Role.doctor]
        conversation = await _conversation(db, patient.id, doctor.id, now)
        ids = (str(sessions[n, Role.patient].id), str(sessions[n, Role.doctor].id))
        pairs.append(Pair(str(conversation), str(patient.id), str(doctor.id), ids))
    await db.flush()
    return pairs


async def _conversation(db: Any, patient: uuid.UUID, doctor: uuid.UUID, now: datetime) -> uuid.UUID:
    """An appointment in three days and its conversation, both as members."""
    from carebridge.messaging.models import Conversation, ConversationMember
    from carebridge.scheduling.models import Appointment

    starts = now.replace(microsecond=0) + timedelta(days=3)
    ends = starts + timedelta(minutes=30)
    appointment = Appointment(
        id=uuid.uuid4(), doctor_id=doctor, patient_id=patient, type="video", status="scheduled",
        starts_at=starts, ends_at=ends, blocked_until=ends, time_zone="UTC", fee=0,
    )  # fmt: skip
    conversation = Conversation(
        id=uuid.uuid4(), kind="appointment", appointment_id=appointment.id, patient_id=patient,
        doctor_id=doctor, opened_by=patient,
    )  # fmt: skip
    # Flushed row by row in order: the models declare no relationships to order them by.
    for row in (appointment, conversation):
        db.add(row)
        await db.flush()
    db.add_all(
        ConversationMember(conversation_id=conversation.id, user_id=user, role=role)
        for user, role in ((patient, "patient"), (doctor, "doctor"))
    )
    return conversation.id


async def make_tickets(url: str, sessions: list[str]) -> list[str]:
    """One WebSocket ticket per session, valid for an hour (as ``POST /api/v1/ws/ticket`` makes
    them, straight into the table)."""
    tickets = [secrets.token_urlsafe(24) for _ in sessions]
    expires = datetime.now(UTC) + timedelta(hours=1)
    connection = await asyncpg.connect(url)
    try:
        await connection.executemany(
            "INSERT INTO realtime_tickets (token_hash, session_id, expires_at) VALUES ($1, $2, $3)",
            [
                (hashlib.sha256(t.encode()).digest(), uuid.UUID(s), expires)
                for t, s in zip(tickets, sessions, strict=True)
            ],
        )
    finally:
        await connection.close()
    return tickets


# -- the client: one protocol per socket, no task per socket ------------------------------------


def _masked(payload: bytes, opcode: Opcode = Opcode.TEXT) -> bytes:
    return Frame(opcode, payload).serialize(mask=True)


@dataclass
class Step:
    """One rate's messages: when each was due and when its recipient got it."""

    due: dict[str, float] = field(default_factory=dict)  # client id -> due (perf_counter)
    arrived: dict[str, float] = field(default_factory=dict)
    seqs: dict[str, int] = field(default_factory=dict)  # client id -> seq given
    duplicates: int = 0
    out_of_order: int = 0
    errors: int = 0
    first_error: str = ""
    done: asyncio.Event = field(default_factory=asyncio.Event)
    frames: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # client id -> sender, frame
    busy: int = 0  # sends answered `busy`, sent again (same client id) after BUSY_RETRY_SECONDS
    resent: set[str] = field(default_factory=set)


class _Socket(asyncio.Protocol):
    def __init__(self, client: Client, user: str, request: bytes, topic: str) -> None:
        self.client, self.user, self.request = client, user, request
        self.mine = user.encode()
        self.subscribe = _masked(json.dumps({"type": "subscribe", "topic": topic}).encode())
        self.buffer = b""
        self.open = False
        self.last_seq = 0  # the highest seq received from the other member
        self.transport: Any = None  # uvloop's transports are no asyncio classes

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        transport.write(self.request)  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if not self.client.stopping:
            self.client.lost_sockets += 1

    def data_received(self, data: bytes) -> None:
        if not self.open:
            self.buffer += data
            rest = after_handshake(self.buffer)
            if rest is None:
                return
            self.open = True
            self.transport.write(self.subscribe)
            self.buffer, data = b"", rest
        now = time.perf_counter()
        self.buffer = self.buffer + data if self.buffer else data
        while (frame := _next_frame(self.buffer)) is not None:
            opcode, payload, used = frame
            self.buffer = self.buffer[used:]
            if opcode == 0x9:  # uvicorn's keepalive ping
                self.transport.write(_masked(payload, Opcode.PONG))
            elif opcode == 0x8:  # the server closes this socket: why
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                reason = payload[2:].decode(errors="replace")
                self.client.closed[f"{code} {reason}".strip()] += 1
            elif opcode == 0x1:
                self.client.frame(self, payload, now)


class Client:
    """Every member's socket, in this process (uvloop)."""

    def __init__(self) -> None:
        self.sockets: dict[str, _Socket] = {}
        self.subscribed = 0
        self.ready = asyncio.Event()
        self.step = Step()
        self.late = 0  # deliveries of an earlier step's messages
        self.lost_sockets = 0
        self.closed: Counter[str] = Counter()  # close frames the server sent, by code and reason
        self.stopping = False

    def frame(self, socket: _Socket, payload: bytes, now: float) -> None:
        if b'"message.created"' in payload:
            if socket.mine not in payload:  # not the sender's own copy
                self._delivered(socket, json.loads(payload)["data"], now)
        elif payload.startswith(b'{"type":"ack"'):
            return
        elif payload.startswith(b'{"type":"subscribed"'):
            self.subscribed += 1
            if self.subscribed == len(self.sockets):
                self.ready.set()
        elif payload.startswith(b'{"type":"ping"'):
            socket.transport.write(_masked(b'{"type":"pong"}'))
        elif payload.startswith(b'{"type":"error"'):
            error = json.loads(payload)
            resend = self.step.frames.get(error.get("id", ""))
            if error.get("code") == "busy" and resend is not None:
                # Overload shed: sent again as a client does, with the same client id (a send
                # is idempotent by it); its latency still runs from when it was first due.
                self.step.busy += 1
                self.step.resent.add(error["id"])
                sender, frame = resend
                asyncio.get_running_loop().call_later(
                    BUSY_RETRY_SECONDS, self._resend, sender, frame
                )
                return
            self.step.errors += 1
            self.step.first_error = self.step.first_error or payload.decode()[:300]

    def _resend(self, sender: str, frame: bytes) -> None:
        socket = self.sockets[sender]
        if socket.transport is not None:
            socket.transport.write(frame)

    def _delivered(self, socket: _Socket, data: dict[str, Any], now: float) -> None:
        step, client_id, seq = self.step, data["client_id"], data["seq"]
        if client_id not in step.due:
            self.late += 1
            return
        if client_id in step.arrived:
            step.duplicates += 1
            return
        if seq <= socket.last_seq:
            step.out_of_order += 1
        socket.last_seq = max(socket.last_seq, seq)
        step.arrived[client_id] = now
        step.seqs[client_id] = seq
        if len(step.arrived) == len(step.due):
            step.done.set()

    async def connect(self, port: int, members: list[tuple[str, str, str]]) -> None:
        """``members``: (user id, path of the upgrade, conversation id) each."""
        loop = asyncio.get_running_loop()
        for start in range(0, len(members), 200):
            for user, path, conversation in members[start : start + 200]:
                key = base64.b64encode(os.urandom(16)).decode()
                request = (
                    f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                    f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                    "Sec-WebSocket-Version: 13\r\n\r\n"
                ).encode()
                socket = _Socket(self, user, request, f"conversation.{conversation}")
                self.sockets[user] = socket
                await loop.create_connection(lambda s=socket: s, "127.0.0.1", port)  # type: ignore[misc]
            while self.subscribed < len(self.sockets):
                await asyncio.sleep(0.01)
                if self.lost_sockets:
                    raise SystemExit("a socket closed while connecting")

    def close(self) -> None:
        self.stopping = True
        for socket in self.sockets.values():
            if socket.transport is not None:
                socket.transport.close()


# -- the load -----------------------------------------------------------------------------------


@dataclass
class Result:
    target: int
    seconds: float
    sent: int
    delivered: int
    achieved: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    lost: int
    duplicates: int
    out_of_order: int
    errors: int
    busy: int  # sends answered `busy` and sent again
    stored_out_of_send_order: int  # seqs of a conversation not in the order the sends were due
    server_cpu_ms: float = 0.0  # the server process's CPU per delivered message
    database_cpu_ms: float = 0.0  # the PostgreSQL cluster's processes' CPU per delivered message
    sockets_closed: int = 0  # by the server, during the step
    first_error: str = ""

    @property
    def saturated(self) -> bool:
        return self.achieved < 0.95 * self.target or self.p99_ms > SATURATED_P99_MS


class Plan:
    """Message k: conversation k mod C, sent by its patient and its doctor in turn."""

    def __init__(self, pairs: list[Pair]) -> None:
        self.pairs = pairs
        self.next = 0
        self.conversation_of: dict[str, str] = {}  # client id -> conversation
        self.filler = ("Bench message " + "lorem ipsum dolor sit amet " * 10)[:TEXT_CHARS]

    def messages(self, count: int) -> list[tuple[str, str, bytes]]:
        """(sender, client id, the masked ``send`` frame) of the next ``count`` messages."""
        made = []
        for k in range(self.next, self.next + count):
            pair = self.pairs[k % len(self.pairs)]
            sender = pair.doctor if (k // len(self.pairs)) % 2 else pair.patient
            client_id = str(uuid.uuid4())
            self.conversation_of[client_id] = pair.conversation
            frame = {
                "type": "send",
                "id": client_id,  # echoed by the answer: an error `busy` names what to resend
                "conversation_id": pair.conversation,
                "client_id": client_id,
                "text": f"{k:08d} {self.filler}"[:TEXT_CHARS],
            }
            made.append((sender, client_id, _masked(json.dumps(frame).encode())))
        self.next += count
        return made


async def run_step(client: Client, plan: Plan, rate: int, seconds: float) -> Result:
    total = int(rate * seconds)
    messages = plan.messages(total)
    step = Step()
    for _, client_id, _ in messages:
        step.due[client_id] = 0.0
    client.step = step
    start = time.perf_counter() + 0.05
    sent = 0
    while sent < total:
        due_count = min(total, int((time.perf_counter() - start) * rate) + 1)
        while sent < due_count:
            sender, client_id, frame = messages[sent]
            step.due[client_id] = start + sent / rate
            step.frames[client_id] = (sender, frame)
            client.sockets[sender].transport.write(frame)
            sent += 1
        await asyncio.sleep(0.001)  # uvloop rounds shorter sleeps to 0: a busy loop
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(step.done.wait(), timeout=DRAIN_SECONDS)
    return _result(step, rate, seconds, start, plan)


def _result(step: Step, rate: int, seconds: float, start: float, plan: Plan) -> Result:
    latencies = sorted((at - step.due[c]) * 1000 for c, at in step.arrived.items()) or [0.0]
    last = max(step.arrived.values(), default=start + seconds)
    elapsed = max(seconds, last - start)
    by_conversation: dict[str, list[tuple[float, int]]] = {}
    for client_id, seq in step.seqs.items():
        if client_id in step.resent:  # numbered when it was sent again, after later ones
            continue
        conversation = plan.conversation_of[client_id]
        by_conversation.setdefault(conversation, []).append((step.due[client_id], seq))
    misnumbered = 0
    for sent in by_conversation.values():
        seqs = [seq for _, seq in sorted(sent)]
        misnumbered += sum(1 for a, b in itertools.pairwise(seqs) if b < a)
    return Result(
        target=rate,
        seconds=seconds,
        sent=len(step.due),
        delivered=len(step.arrived),
        achieved=len(step.arrived) / elapsed,
        p50_ms=statistics.median(latencies),
        p99_ms=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        max_ms=latencies[-1],
        lost=len(step.due) - len(step.arrived),
        duplicates=step.duplicates,
        out_of_order=step.out_of_order,
        errors=step.errors,
        busy=step.busy,
        stored_out_of_send_order=misnumbered,
        first_error=step.first_error,
    )


async def quiet(client: Client, seconds: float = 1.0, cap: float = 120.0) -> None:
    """Wait until no late delivery came for ``seconds`` (a saturated step's backlog drains
    before the next step starts)."""
    deadline = time.monotonic() + cap
    while time.monotonic() < deadline:
        before = client.late
        await asyncio.sleep(seconds)
        if client.late == before:
            return


async def measure(
    database_name: str,
    port: int,
    members: list[tuple[str, str, str]],
    plan: Plan,
    rates: list[int],
    options: Options,
    log: Path,
) -> list[Result]:
    client = Client()
    await client.connect(port, members)
    try:
        await run_step(client, plan, min(50, rates[0]), 2)  # warm up: not counted
        await quiet(client)
        results: list[Result] = []
        for rate in _rates(rates, options, results):
            cpu, closed, database = _server_cpu(), client.lost_sockets, _database_cpu(database_name)
            result = await run_step(client, plan, rate, options.seconds)
            result.sockets_closed = client.lost_sockets - closed
            result.server_cpu_ms = (_server_cpu() - cpu) * 1000 / max(1, result.delivered)
            result.database_cpu_ms = _cpu_since(database, _database_cpu(database_name)) / max(
                1, result.delivered
            )
            results.append(result)
            _print(options.mode, result)
            await quiet(client)
        if client.lost_sockets:
            print(f"  {client.lost_sockets} sockets closed during the run: {dict(client.closed)}")
            print(_log_tail(log))
            if os.environ.get("BENCH_LOGS"):  # a folder to keep the whole server log in
                shutil.copy(log, Path(os.environ["BENCH_LOGS"]) / log.name)
        return results
    finally:
        client.close()


def _server_cpu() -> float:
    """CPU seconds of the server (this process's children: the bench starts it)."""
    return sum(
        times.user + times.system
        for child in psutil.Process().children(recursive=True)
        for times in [child.cpu_times()]
    )


def _database_cpu(database_name: str) -> dict[int, float]:
    """CPU seconds of each process of the PostgreSQL cluster that holds ``database_name``: its
    postmaster's children (backends and background workers). Run on a shared server
    (CAREBRIDGE_DATABASE_URL) it counts the other databases' work too."""
    postmasters = set()
    for process in psutil.process_iter(["cmdline", "ppid"]):
        if database_name in " ".join(process.info["cmdline"] or ()):
            postmasters.add(process.info["ppid"])
    found: dict[int, float] = {}
    for postmaster in postmasters:
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(postmaster).children():
                with contextlib.suppress(psutil.Error):
                    times = child.cpu_times()
                    found[child.pid] = times.user + times.system
    return found


def _cpu_since(before: dict[int, float], after: dict[int, float]) -> float:
    """Milliseconds of CPU between two :func:`_database_cpu` readings (a process that ended in
    between is not counted: the pools keep their connections, so few do)."""
    return 1000 * sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def _rates(rates: list[int], options: Options, results: list[Result]) -> Iterator[int]:
    """The listed rates (stopping once a step queues for seconds: higher ones only queue more),
    then doubling while the last step kept up, to find the saturation rate."""
    for rate in rates:
        if results and results[-1].p99_ms > 5000:
            return
        yield rate
    rate = rates[-1]
    while options.probe and results and not results[-1].saturated:
        rate *= 2
        if rate > options.probe_max:
            return
        yield rate


def _print(mode: str, r: Result) -> None:
    print(
        f"{mode:<11} target {r.target:>5}/s  achieved {r.achieved:7.1f}/s  p50 {r.p50_ms:7.1f} ms"
        f"  p99 {r.p99_ms:7.1f} ms  max {r.max_ms:7.1f} ms  lost {r.lost}  dup {r.duplicates}"
        f"  out-of-order {r.out_of_order}  errors {r.errors}  busy {r.busy}"
        f"  closed {r.sockets_closed}"
        f"  CPU/message: server {r.server_cpu_ms:.2f} ms, database {r.database_cpu_ms:.2f} ms",
        flush=True,
    )
    if r.first_error:
        print(f"  first error: {r.first_error}", flush=True)


@dataclass(frozen=True)
class Options:
    mode: str = "carebridge"
    seconds: float = 10.0
    probe: bool = True
    probe_max: int = 8000


# -- the floor: bare Starlette + asyncpg ----------------------------------------------------------

_NEXT_SEQ = """
UPDATE conversations SET last_seq = last_seq + 1, last_message_at = $2, updated_at = now()
WHERE id = $1 AND closed_at IS NULL
RETURNING last_seq
"""
_INSERT = """
INSERT INTO messages (id, conversation_id, seq, sender_id, client_id, body_sealed, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
"""


def floor_app() -> Any:
    """``uvicorn --factory bench.chat:floor_app``: ``WS /ws?user=<id>``; frames ``subscribe``
    and ``send`` as CareBridge's gateway takes them."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    sealer = AESGCM(AESGCM.generate_key(bit_length=256))
    state: dict[str, Any] = {}
    members: dict[uuid.UUID, set[uuid.UUID]] = {}
    subscribers: dict[str, set[WebSocket]] = {}

    def seal(message_id: uuid.UUID, conversation: uuid.UUID, text: str) -> bytes:
        nonce = os.urandom(12)
        bound = f"message:{message_id}:{conversation}".encode()
        return b"\x00\x01" + nonce + sealer.encrypt(nonce, text.encode(), bound)

    async def send(ws: WebSocket, user: uuid.UUID, frame: dict[str, Any]) -> None:
        conversation = uuid.UUID(frame["conversation_id"])
        if user not in members.get(conversation, ()):
            await ws.send_text('{"type":"error","code":"conversation_not_found"}')
            return
        message_id, now, text = uuid.uuid4(), datetime.now(UTC), frame["text"]
        client_id = uuid.UUID(frame["client_id"])
        async with state["pool"].acquire() as conn, conn.transaction():
            seq = await conn.fetchval(_NEXT_SEQ, conversation, now)
            sealed = seal(message_id, conversation, text)
            await conn.execute(_INSERT, message_id, conversation, seq, user, client_id, sealed, now)
        data = {
            "id": str(message_id), "conversation_id": str(conversation), "seq": seq,
            "sender_id": str(user), "client_id": str(client_id), "text": text, "state": "ok",
            "created_at": now.isoformat(), "edited_at": None, "deleted_at": None,
        }  # fmt: skip
        topic = f"conversation.{conversation}"
        event = json.dumps(
            {"type": "event", "topic": topic, "event": "message.created", "data": data, "seq": seq},
            separators=(",", ":"),
        )
        for subscriber in list(subscribers.get(topic, ())):
            with contextlib.suppress(Exception):
                await subscriber.send_text(event)
        ack = {"type": "ack", "of": "send", "message": data, "created": True}
        await ws.send_text(json.dumps(ack, separators=(",", ":")))

    async def relay(ws: WebSocket) -> None:
        user = uuid.UUID(ws.query_params["user"])
        await ws.accept()
        topics: set[str] = set()
        try:
            while True:
                frame = json.loads(await ws.receive_text())
                if frame["type"] == "send":
                    await send(ws, user, frame)
                elif frame["type"] == "subscribe":
                    topic = frame["topic"]
                    if user in members.get(uuid.UUID(topic.removeprefix("conversation.")), ()):
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
        for row in await state["pool"].fetch("SELECT * FROM conversation_members"):
            members.setdefault(row["conversation_id"], set()).add(row["user_id"])
        yield
        await state["pool"].close()

    return Starlette(routes=[WebSocketRoute("/ws", relay)], lifespan=lifespan)


# -- the run ------------------------------------------------------------------------------------


def _env(url: str, tmp: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("CAREBRIDGE_")},
        "CAREBRIDGE_ENVIRONMENT": "development",
        "CAREBRIDGE_DATABASE_URL": url,
        "CAREBRIDGE_DATA_DIR": str(tmp),
        "CAREBRIDGE_LOG_LEVEL": "WARNING",
        "CAREBRIDGE_AUTO_MIGRATE": "false",
        "CAREBRIDGE_IN_PROCESS_WORKER": "false",
        "BENCH_DATABASE_URL": url,
    }


@contextmanager
def _serving(mode: str, url: str, tmp: Path) -> Iterator[int]:
    port = free_port()
    if mode == "carebridge":
        # BENCH_PROFILE=<file>: the server runs under cProfile and writes its profile there.
        profile = os.environ.get("BENCH_PROFILE")
        wrap = ["-m", "cProfile", "-o", profile] if profile else []
        command = [sys.executable, *wrap, "-m", "carebridge", "serve", "--port", str(port)]
    else:
        command = [sys.executable, "-m", "uvicorn", "bench.chat:floor_app", "--factory",
                   "--port", str(port), "--loop", "uvloop", "--http", "httptools",
                   "--ws", "websockets-sansio", "--ws-per-message-deflate", "false",
                   "--ws-max-size", str(1024 * 1024), "--no-access-log",
                   "--log-level", "warning"]  # fmt: skip
    with server(command, _env(url, tmp), port, tmp / f"{mode}.log"):
        yield port


async def _members(mode: str, url: str, pairs: list[Pair]) -> list[tuple[str, str, str]]:
    people = [
        (user, session, pair.conversation)
        for pair in pairs
        for user, session in zip((pair.patient, pair.doctor), pair.sessions, strict=True)
    ]
    if mode == "floor":
        return [(user, f"/ws?user={user}", c) for user, _, c in people]
    tickets = await make_tickets(url, [session for _, session, _ in people])
    return [
        (user, f"/api/v1/ws?ticket={ticket}", c)
        for (user, _, c), ticket in zip(people, tickets, strict=True)
    ]


async def _stored(url: str) -> dict[str, int]:
    """What the database holds after a mode: messages, and conversations whose numbers have a
    gap or do not end at ``last_seq``."""
    connection = await asyncpg.connect(url)
    try:
        row = await connection.fetchrow(
            """
            SELECT (SELECT count(*) FROM messages) AS messages,
                   (SELECT count(*) FROM conversations c WHERE c.last_seq <> (
                        SELECT count(*) FROM messages m WHERE m.conversation_id = c.id)
                      OR c.last_seq <> coalesce((SELECT max(seq) FROM messages m
                                                 WHERE m.conversation_id = c.id), 0))
                   AS gapped
            """
        )
    finally:
        await connection.close()
    return {"messages": int(row["messages"]), "conversations_with_gaps": int(row["gapped"])}


def run(
    conversations: int,
    rates: list[int],
    options: Options,
    modes: tuple[str, ...] = MODES,
    server_url: str | None = None,
) -> dict[str, Any]:
    """Prepare a fresh database, measure each mode, and answer the report."""
    _raise_fd_limit()
    report: dict[str, Any] = {
        "members": 2 * conversations,
        "conversations": conversations,
        "seconds": options.seconds,
        "text_chars": TEXT_CHARS,
        "modes": {},
    }
    with (
        tempfile.TemporaryDirectory() as folder,
        bench_database(Path(folder), server_url) as url,
        asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner,
    ):
        tmp = Path(folder)
        settings = load_settings(database_url=url, data_dir=tmp, log_level="WARNING")
        pairs = runner.run(prepare(settings, conversations))
        plan = Plan(pairs)
        for mode in modes:
            log = tmp / f"{mode}.log"
            with _serving(mode, url, tmp) as port:
                members = runner.run(_members(mode, url, pairs))
                results = runner.run(
                    measure(
                        make_url(url).database or "",
                        port,
                        members,
                        plan,
                        rates,
                        replace_mode(options, mode),
                        log,
                    )
                )
            stored = runner.run(_stored(url))
            report["modes"][mode] = _summary(results) | {"database": stored}
    report |= _verdict(report["modes"])
    return report


def replace_mode(options: Options, mode: str) -> Options:
    return Options(mode, options.seconds, options.probe, options.probe_max)


def _summary(results: list[Result]) -> dict[str, Any]:
    return {
        "steps": [asdict(r) | {"saturated": r.saturated} for r in results],
        "saturation_rate": max((r.achieved for r in results), default=0.0),
        "saturated": any(r.saturated for r in results),
    }


def _verdict(modes: dict[str, Any]) -> dict[str, Any]:
    verdict: dict[str, Any] = {"ratio": None, "p99_at_300_ms": None}
    ours = modes.get("carebridge")
    if ours is not None:
        at_300 = [s for s in ours["steps"] if s["target"] == 300]
        if at_300:
            verdict["p99_at_300_ms"] = at_300[0]["p99_ms"]
            verdict["latency_target_met"] = at_300[0]["p99_ms"] <= 50 and not at_300[0]["saturated"]
    floor = modes.get("floor")
    if ours is not None and floor is not None and floor["saturation_rate"] > 0:
        verdict["ratio"] = ours["saturation_rate"] / floor["saturation_rate"]
        # An unsaturated floor's rate is a lower bound: the ratio is then an upper bound.
        verdict["ratio_is_upper_bound"] = not floor["saturated"]
        verdict["ratio_target_met"] = verdict["ratio"] >= 0.7
    return verdict


def _print_verdict(report: dict[str, Any]) -> None:
    for mode, summary in report["modes"].items():
        bound = "" if summary["saturated"] else "> "
        print(
            f"{mode:<11} saturation {bound}{summary['saturation_rate']:.0f}/s  "
            f"database: {summary['database']}"
        )
    if report.get("p99_at_300_ms") is not None:
        met = "met" if report["latency_target_met"] else "NOT met"
        print(f"target p99 <= 50 ms at 300/s: {report['p99_at_300_ms']:.1f} ms, {met}")
    if report.get("ratio") is not None:
        bound = "<= " if report["ratio_is_upper_bound"] else ""
        met = "met" if report["ratio_target_met"] else "NOT met"
        print(f"target carebridge/floor >= 0.7: {bound}{report['ratio']:.2f}, {met}")


def main() -> None:
    conversations = int(os.environ.get("BENCH_CONVERSATIONS", "500"))
    rates = [int(r) for r in os.environ.get("BENCH_RATES", "100,300,1000").split(",")]
    modes = tuple(os.environ.get("BENCH_MODES", ",".join(MODES)).split(","))
    options = Options(
        seconds=float(os.environ.get("BENCH_SECONDS", "10")),
        probe=os.environ.get("BENCH_PROBE", "1") not in ("0", "false", ""),
        probe_max=int(os.environ.get("BENCH_PROBE_MAX", "8000")),
    )
    print(
        f"{2 * conversations} members in {conversations} conversations, {options.seconds} s a rate"
    )
    configure_logging(load_settings(log_level="WARNING"))
    report = run(conversations, rates, options, modes)
    _print_verdict(report)
    if os.environ.get("BENCH_JSON"):
        Path(os.environ["BENCH_JSON"]).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
