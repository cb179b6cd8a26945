"""Fan-out of one doctor's status change to N sockets subscribed to ``doctors.presence``.

CareBridge (``carebridge serve``, a real process) against a reference: a bare ``websockets``
server broadcasting the same frame, both measured in this run by the same client. The client is
its own process of light asyncio protocols (no task per socket) that timestamps each frame's
arrival with the system-wide monotonic clock; latency = last socket's arrival - trigger time.
For CareBridge the trigger is ``PUT /api/v1/doctors/me/status`` (HTTP, database commit,
publish, fan-out); for the reference a control message on the server.

    python -m bench presence_fanout [N ...]      (default 1000 5000 10000; 60 events each)

Runs against CAREBRIDGE_DATABASE_URL, or an embedded PostgreSQL in a temporary folder. Give it
a new, empty database: the run's data dir is temporary, and signing keys an earlier run stored in
the database cannot be decrypted by this run's development keys.
Targets (docs/performance.md): 10k sockets p99 <= 80 ms.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import resource
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psutil
from websockets.frames import Frame, Opcode

EVENTS = 60
MARKER = b'"event":"status"'
SUBSCRIBE = Frame(Opcode.TEXT, b'{"type":"subscribe","topic":"doctors.presence"}').serialize(
    mask=True
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# -- the client process ------------------------------------------------------------------------


class _Socket(asyncio.Protocol):
    def __init__(self, client: _Clients, request: bytes) -> None:
        self.client, self.request = client, request
        self.buffer = b""
        self.open = False
        self.count = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.client.stopping:  # a lost socket would stall the run: say so and stop
            print(f"lost a socket after {self.count} events: {exc}", flush=True)

    def data_received(self, data: bytes) -> None:
        if not self.open:
            self.buffer += data
            rest = after_handshake(self.buffer)
            if rest is None:
                return
            self.open = True
            assert self.transport is not None
            self.transport.write(SUBSCRIBE)
            self.client.opened.release()
            self.buffer, data = b"", rest
        now = time.monotonic()
        self.buffer = self.buffer + data if self.buffer else data
        while True:
            frame = _next_frame(self.buffer)
            if frame is None:
                return
            opcode, payload, used = frame
            self.buffer = self.buffer[used:]
            if opcode == 0x9:  # uvicorn's keepalive ping: answer as a browser would
                assert self.transport is not None
                self.transport.write(Frame(Opcode.PONG, payload).serialize(mask=True))
            elif MARKER in payload:
                self.count += 1
                self.client.arrived(self.count, now)


def after_handshake(buffer: bytes) -> bytes | None:
    """What came after the server's ``101 Switching Protocols`` answer in ``buffer`` (None: the
    answer is not all in yet); a refused upgrade ends the run, saying why."""
    head, sep, rest = buffer.partition(b"\r\n\r\n")
    if not sep:
        return None
    if not head.startswith(b"HTTP/1.1 101"):
        raise SystemExit(f"handshake refused: {head[:200]!r}")
    return rest


def _next_frame(buffer: bytes) -> tuple[int, bytes, int] | None:
    """(opcode, payload, bytes used) of the first whole server frame (unmasked), or None."""
    if len(buffer) < 2:
        return None
    length, start = buffer[1] & 0x7F, 2
    if length == 126:
        if len(buffer) < 4:
            return None
        length, start = int.from_bytes(buffer[2:4], "big"), 4
    elif length == 127:
        if len(buffer) < 10:
            return None
        length, start = int.from_bytes(buffer[2:10], "big"), 10
    if len(buffer) < start + length:
        return None
    return buffer[0] & 0x0F, buffer[start : start + length], start + length


class _Clients:
    def __init__(self, total: int) -> None:
        self.total = total
        self.received: dict[int, int] = {}
        self.opened = asyncio.Semaphore(0)
        self.stopping = False

    def arrived(self, number: int, at: float) -> None:
        self.received[number] = self.received.get(number, 0) + 1
        if self.received[number] == self.total:
            print(f"done {number} {at:.6f}", flush=True)


async def _client_main(host: str, port: int, path_prefix: str, tickets: list[str]) -> None:
    loop = asyncio.get_running_loop()
    clients = _Clients(len(tickets))
    sockets = []
    for start in range(0, len(tickets), 500):
        batch = tickets[start : start + 500]
        for ticket in batch:
            key = base64.b64encode(os.urandom(16)).decode()
            request = (
                f"GET {path_prefix}{ticket} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
            _, proto = await loop.create_connection(
                lambda r=request: _Socket(clients, r), host, port
            )
            sockets.append(proto)
        for _ in batch:
            await clients.opened.acquire()
        if (start + len(batch)) % 2000 == 0:
            print(f"    {start + len(batch)} sockets open", file=sys.stderr, flush=True)
    print("ready", flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)  # until told to stop
    clients.stopping = True


def client_process() -> None:
    _raise_fd_limit()
    import uvloop

    host, port, prefix, ticket_file = sys.argv[2:6]
    tickets = Path(ticket_file).read_text().split()
    uvloop.run(_client_main(host, int(port), prefix, tickets))


class ClientProcess:
    def __init__(self, host: str, port: int, prefix: str, tickets: list[str], tmp: Path) -> None:
        ticket_file = tmp / f"tickets-{port}.txt"
        ticket_file.write_text("\n".join(tickets))
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.presence_fanout",
                "--client",
                host,
                str(port),
                prefix,
                str(ticket_file),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def line(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit("the client process ended early")
        if line.startswith("lost"):
            raise SystemExit(f"the client {line.strip()}")
        return line.strip()

    def wait_ready(self) -> None:
        while self.line() != "ready":
            pass

    def done_at(self, number: int) -> float:
        while True:
            parts = self.line().split()
            if parts[0] == "done" and int(parts[1]) == number:
                return float(parts[2])

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        self.process.wait(timeout=60)


# -- the reference server (a process of its own) ----------------------------------------------


def reference_process() -> None:
    _raise_fd_limit()
    import uvloop
    from websockets.asyncio.server import broadcast, serve
    from websockets.exceptions import ConnectionClosed

    port = int(sys.argv[2])
    followers: set[object] = set()

    async def handler(connection):  # type: ignore[no-untyped-def]
        try:
            async for message in connection:
                if message == "trigger":
                    frame = FRAME.replace(b'"seq":0', f'"seq":{time.monotonic_ns()}'.encode())
                    broadcast(followers, frame.decode())  # type: ignore[arg-type]
                else:
                    followers.add(connection)
        except ConnectionClosed:
            pass
        followers.discard(connection)

    async def main() -> None:
        async with serve(handler, "127.0.0.1", port, compression=None, ping_interval=None):
            print("ready", flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)

    uvloop.run(main())


FRAME = (
    b'{"type":"event","topic":"doctors.presence","event":"status","data":{"doctor_id":'
    b'"3f1c2a9e-0000-4000-8000-000000000000","name":"Dr. Bench","status":"online","version":1,'
    b'"changed_at":"2026-11-25T10:00:00Z","last_online_at":"2026-11-25T10:00:00Z"},"seq":0}'
)


# -- the driver --------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def rss(pid: int) -> int:
    return int(psutil.Process(pid).memory_info().rss)


def measure_reference(n: int, tmp: Path) -> tuple[list[float], float]:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.presence_fanout", "--reference", str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    assert server.stdin is not None
    server.stdout.readline()
    before = rss(server.pid)
    clients = ClientProcess("127.0.0.1", port, "/?t=", [str(i) for i in range(n)], tmp)
    clients.wait_ready()
    time.sleep(1.0)
    per_socket = (rss(server.pid) - before) / n

    async def trigger_all() -> list[float]:
        from websockets.asyncio.client import connect

        latencies = []
        async with connect(f"ws://127.0.0.1:{port}/", compression=None) as control:
            for number in range(1, EVENTS + 1):
                started = time.monotonic()
                await control.send("trigger")
                finished = await asyncio.get_running_loop().run_in_executor(
                    None, clients.done_at, number
                )
                latencies.append(finished - started)
                await asyncio.sleep(0.02)
        return latencies

    try:
        return asyncio.run(trigger_all()), per_socket
    finally:
        clients.stop()
        server.stdin.write("\n")
        server.stdin.flush()
        server.wait(timeout=30)


async def _make_people(database_url: str, n: int) -> tuple[str, list[str]]:
    """A verified doctor (signed in over HTTP later) and ``n`` tickets of one patient session."""
    from carebridge.accounts.models import AuthSession, RealtimeTicket, Role, User, UserStatus
    from carebridge.config import Settings
    from carebridge.directory.models import DoctorProfile
    from carebridge.platform.db import Database
    from carebridge.platform.passwords import hash_password

    database = Database.from_settings(Settings(database_url=database_url, _env_file=None))  # type: ignore[call-arg]
    now = datetime.now(UTC)
    tag = uuid.uuid4().hex[:6]
    tickets = [secrets.token_urlsafe(24) for _ in range(n)]
    async with database.transaction() as db:
        doctor = User(
            email=f"bench-dr-{tag}@example.org",
            name="Dr. Bench",
            role=Role.doctor,
            status=UserStatus.active,
            password_hash=hash_password("bench-password-42!", cost="standard"),
            approved_at=now,
        )
        patient = User(
            email=f"bench-pt-{tag}@example.org",
            name="Bench Patient",
            role=Role.patient,
            status=UserStatus.active,
            password_hash="x",
        )
        db.add_all([doctor, patient])
        await db.flush()
        db.add(DoctorProfile(user_id=doctor.id, verified_at=now))
        session = AuthSession(
            user_id=patient.id,
            idle_expires_at=now + timedelta(days=1),
            absolute_expires_at=now + timedelta(days=1),
            last_used_at=now,
        )
        db.add(session)
        await db.flush()
        db.add_all(
            RealtimeTicket(
                token_hash=hashlib.sha256(t.encode()).digest(),
                session_id=session.id,
                expires_at=now + timedelta(hours=1),
            )
            for t in tickets
        )
    await database.dispose()
    return doctor.email, tickets


def measure_carebridge(n: int, database_url: str, tmp: Path) -> tuple[list[float], float]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAREBRIDGE_")}
    env.update(
        CAREBRIDGE_ENVIRONMENT="development",
        CAREBRIDGE_DATABASE_URL=database_url,
        # One data dir for every run: the development keys in it decrypt the signing keys the
        # first run stored in the database.
        CAREBRIDGE_DATA_DIR=str(tmp / "data"),
        CAREBRIDGE_PUBLIC_BASE_URL=base,
        CAREBRIDGE_LOG_LEVEL="WARNING",
        CAREBRIDGE_IN_PROCESS_WORKER="false",
        # The raw bench clients do not answer application pings.
        CAREBRIDGE_REALTIME_PING_SECONDS="3600",
        CAREBRIDGE_REALTIME_IDLE_TIMEOUT_SECONDS="7200",
        CAREBRIDGE_DB_POOL_SIZE="20",
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "carebridge", "serve", "--port", str(port)],
        env=env,
        stdout=(tmp / "server.log").open("ab"),
        stderr=subprocess.STDOUT,
        preexec_fn=_raise_fd_limit,
    )
    try:
        for _ in range(600):
            try:
                if httpx.get(base + "/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        email, tickets = asyncio.run(_make_people(database_url, n))
        http = httpx.Client(base_url=base, timeout=30)
        signed_in = http.post(
            "/api/v1/auth/login", json={"email": email, "password": "bench-password-42!"}
        )
        assert signed_in.status_code == 200, signed_in.text
        token = signed_in.json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        before = rss(server.pid)
        clients = ClientProcess("127.0.0.1", port, "/api/v1/ws?ticket=", tickets, tmp)
        clients.wait_ready()
        time.sleep(2.0)  # subscriptions (and their snapshots) settle
        per_socket = (rss(server.pid) - before) / n
        latencies: list[float] = []
        requests: list[float] = []
        for number in range(1, EVENTS + 1):
            status = "online" if number % 2 else "offline"
            started = time.monotonic()
            response = http.put(
                "/api/v1/doctors/me/status", json={"status": status}, headers=headers
            )
            assert response.status_code == 200, response.text
            requests.append(time.monotonic() - started)
            latencies.append(clients.done_at(number) - started)
            time.sleep(0.02)
        clients.stop()
        print(
            f"  (carebridge N={n}: the PUT itself — HTTP, commit, publish — p50 "
            f"{statistics.median(requests) * 1000:.1f} ms)"
        )
        return latencies, per_socket
    finally:
        server.send_signal(2)
        server.wait(timeout=60)


def report(name: str, n: int, latencies: list[float], per_socket: float) -> tuple[float, float]:
    p50, p99 = statistics.median(latencies) * 1000, percentile(latencies, 0.99) * 1000
    print(
        f"  {name:<11} N={n:>6}  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  "
        f"RSS/socket {per_socket / 1024:6.1f} KiB  ({len(latencies)} events)"
    )
    return p50, p99


def main(sizes: list[int] | None = None) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    from carebridge.config import load_settings
    from carebridge.platform.embedded import EmbeddedPostgres
    from carebridge.platform.migrate import upgrade

    sizes = sizes or [1000, 5000, 10_000]
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        embedded = None
        database_url = load_settings(data_dir=tmp).database_url
        if database_url is None:
            embedded = EmbeddedPostgres(tmp / "postgres")
            database_url = embedded.start()
        try:
            from carebridge.config import Settings

            engine = create_async_engine(
                Settings(database_url=database_url, _env_file=None).sqlalchemy_url
            )  # type: ignore[call-arg]
            asyncio.run(upgrade(engine))
            for n in sizes:
                ours = report("carebridge", n, *measure_carebridge(n, database_url, tmp))
                ref = report("reference", n, *measure_reference(n, tmp))
                ratios = f"p50 {ours[0] / ref[0]:.2f}x  p99 {ours[1] / ref[1]:.2f}x"
                print(f"  ratio       N={n:>6}  {ratios}")
        finally:
            if embedded is not None:
                embedded.stop()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--client"]:
        client_process()
    elif sys.argv[1:2] == ["--reference"]:
        reference_process()
    else:
        main([int(a) for a in sys.argv[1:]] or None)
