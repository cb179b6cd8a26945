"""A real coturn for the call tests: Debian's ``turnserver`` on loopback, on a free port, with
credentials in the REST scheme CareBridge signs (``use-auth-secret``). ``real_coturn`` is a plain
context manager: the video tests' ``turn_server`` fixture (tests/video/conftest.py) wraps it, and
a browser test's conftest can wrap it the same way.

Loopback peers are allowed here only: coturn refuses to relay to 127.0.0.0/8 by default (``403
Forbidden IP``), and in these tests every peer, the browsers included, is on loopback."""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import socket
import string
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

COTURN = Path("/usr/bin/turnserver")  # Debian's coturn (.ci/run installs it)
REALM = "carebridge.test"
HOST = "127.0.0.1"
# Relay ports are drawn below Linux's ephemeral range (32768-60999), so the ports the kernel
# hands to clients do not collide with them; a window of its own for each server.
RELAY_PORTS = (20000, 32000)
RELAY_WINDOW = 200


@dataclass(frozen=True)
class TurnServer:
    """A running coturn: where it listens, the secret it shares with CareBridge, its log."""

    host: str
    port: int
    secret: str
    realm: str
    log_path: Path
    relay_ports: range  # where coturn opens the relayed addresses

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    @property
    def urls(self) -> list[str]:
        """What CAREBRIDGE_TURN_URLS would hold for it."""
        return [
            f"turn:{self.host}:{self.port}?transport=udp",
            f"turn:{self.host}:{self.port}?transport=tcp",
        ]

    @property
    def stun_urls(self) -> list[str]:
        return [f"stun:{self.host}:{self.port}"]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def free_port() -> int:
    """A port free on loopback for both UDP and TCP (coturn listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((HOST, 0))
            port: int = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((HOST, port))
                except OSError:
                    continue
                return port
    raise AssertionError("no port free for both UDP and TCP on loopback")


def binding_answered(address: tuple[str, int], timeout: float = 0.3) -> bool:
    """Whether a STUN Binding request over UDP gets a Binding success response (RFC 8489: type
    0x0001, no attributes, the magic cookie, a random transaction id)."""
    transaction = secrets.token_bytes(12)
    request = b"\x00\x01\x00\x00\x21\x12\xa4\x42" + transaction
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(request, address)
        try:
            answer = sock.recv(2048)
        except OSError:
            return False
    return answer[:2] == b"\x01\x01" and answer[8:20] == transaction


def config(
    directory: Path, port: int, secret: str, relay: int, *, allow_loopback_peers: bool
) -> str:
    lines = [
        f"listening-ip={HOST}",
        f"listening-port={port}",
        f"relay-ip={HOST}",
        f"min-port={relay}",
        f"max-port={relay + RELAY_WINDOW - 1}",
        "use-auth-secret",
        f"static-auth-secret={secret}",
        f"realm={REALM}",
        "fingerprint",
        "no-tls",
        "no-dtls",
        "no-cli",
        "no-multicast-peers",
        # Its own files: no /var/lib/turn/turndb, no pid file in /var/run.
        f"userdb={directory / 'turndb'}",
        f"pidfile={directory / 'turnserver.pid'}",
        f"log-file={directory / 'turnserver.log'}",
        "simple-log",  # exactly that file name (no date appended, no rollover)
    ]
    if allow_loopback_peers:
        lines.append("allow-loopback-peers")
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def real_coturn(
    directory: Path, *, allow_loopback_peers: bool = True, timeout: float = 30
) -> Iterator[TurnServer]:
    """coturn on loopback with its config, database and log in ``directory``; stopped on exit.
    Skips the test when coturn is not installed."""
    if not os.access(COTURN, os.X_OK):
        pytest.skip(f"coturn is not installed ({COTURN}): apt-get install coturn")
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    secret = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32))
    relay = random.randrange(RELAY_PORTS[0], RELAY_PORTS[1] - RELAY_WINDOW)
    conf = directory / "turnserver.conf"
    conf.write_text(
        config(directory, port, secret, relay, allow_loopback_peers=allow_loopback_peers)
    )
    server = TurnServer(
        HOST, port, secret, REALM, directory / "turnserver.log", range(relay, relay + RELAY_WINDOW)
    )
    process = subprocess.Popen(
        [str(COTURN), "-c", str(conf), "--no-stdout-log"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + timeout
        while not binding_answered(server.address):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"coturn did not answer on {server.address} (exit {process.poll()}):\n"
                    + server.log()
                )
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
