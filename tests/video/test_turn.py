"""TURN credentials in coturn's REST scheme: the name and password CareBridge signs, and what a
real coturn (tests/factories/turn.py) does with them: a fresh credential gets an allocation that
relays, an expired or forged one is refused."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aioice import stun
from aioice.turn import TurnTransport, create_turn_endpoint

from carebridge.video.turn import IceServer, ice_servers, turn_password, turn_username
from tests.factories.turn import TurnServer, real_coturn

USER = uuid.UUID("0b6f6c7e-2f4d-4a8e-9c1a-3d5e7f901234")


def test_turn_password_matches_a_vector_computed_elsewhere() -> None:
    # Computed once with OpenSSL, not with Python:
    #   printf '%s' '1767225600:0b6f6c7e-2f4d-4a8e-9c1a-3d5e7f901234' \
    #     | openssl dgst -sha1 -hmac 'carebridge-turn-test-secret' -binary | base64
    username = "1767225600:0b6f6c7e-2f4d-4a8e-9c1a-3d5e7f901234"
    assert turn_password("carebridge-turn-test-secret", username) == "0jtppL8HT7bO4sX+19B0XLwR2sI="
    assert turn_password("another-secret", username) != "0jtppL8HT7bO4sX+19B0XLwR2sI="


def test_turn_username_is_the_expiry_in_unix_seconds_then_the_user_id() -> None:
    # 2026-01-01T00:00:00Z is 1767225600 (date -u -d @1767225600); the fraction is dropped.
    expires = datetime(2026, 1, 1, 0, 0, 0, 900_000, tzinfo=UTC)
    assert turn_username(USER, expires) == "1767225600:0b6f6c7e-2f4d-4a8e-9c1a-3d5e7f901234"
    in_paris = expires.astimezone(timezone(timedelta(hours=1)))
    assert turn_username(USER, in_paris) == "1767225600:0b6f6c7e-2f4d-4a8e-9c1a-3d5e7f901234"


def test_ice_servers_sign_the_turn_urls_only() -> None:
    expires = datetime(2026, 1, 1, tzinfo=UTC)
    servers = ice_servers(
        ["stun:stun.example.org:3478"],
        ["turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349"],
        "carebridge-turn-test-secret",
        USER,
        expires,
    )
    assert servers == [
        IceServer(urls=["stun:stun.example.org:3478"]),
        IceServer(
            urls=["turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349"],
            username="1767225600:0b6f6c7e-2f4d-4a8e-9c1a-3d5e7f901234",
            credential="0jtppL8HT7bO4sX+19B0XLwR2sI=",
        ),
    ]
    unsigned = ice_servers([], ["turn:turn.example.org"], None, USER, expires)
    assert unsigned == []


class Peer(asyncio.DatagramProtocol):
    """Either end of a relayed exchange: keeps what it receives and the errors it is told of."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()
        self.errors: list[Exception] = []
        self.closed = asyncio.Event()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received.put_nowait((data, addr))

    def error_received(self, exc: Exception) -> None:
        self.errors.append(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set()


def credential(server: TurnServer, expires_at: datetime) -> IceServer:
    """The TURN entry CareBridge hands a browser for this server."""
    [turn] = ice_servers([], server.urls, server.secret, USER, expires_at)
    assert turn.username is not None
    assert turn.credential is not None
    return turn


def in_minutes(minutes: float) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


@asynccontextmanager
async def allocation(
    url: str, username: str | None, password: str | None
) -> AsyncIterator[tuple[TurnTransport, Peer]]:
    """A TURN allocation through the server of ``url`` (``turn:host:port?transport=...``),
    deleted on exit."""
    parts = urlsplit(url)
    assert parts.scheme == "turn"
    host, port = parts.path.rsplit(":", 1)
    transport_name = dict(p.split("=", 1) for p in parts.query.split("&"))["transport"]
    transport, peer = await create_turn_endpoint(
        Peer, (host, int(port)), username, password, transport=transport_name
    )
    try:
        yield transport, peer
    finally:
        transport.close()
        await asyncio.wait_for(peer.closed.wait(), 5)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_a_fresh_credential_gets_an_allocation_that_relays(
    turn_server: TurnServer, transport: str
) -> None:
    turn = credential(turn_server, in_minutes(5))
    [url] = [u for u in turn.urls if u.endswith(f"transport={transport}")]
    async with allocation(url, turn.username, turn.credential) as (relayed, client):
        host, port = relayed.get_extra_info("sockname")
        assert host == "127.0.0.1"
        assert port in turn_server.relay_ports
        loop = asyncio.get_running_loop()
        other, other_end = await loop.create_datagram_endpoint(Peer, local_addr=("127.0.0.1", 0))
        try:
            relayed.sendto(b"hello through coturn", other.get_extra_info("sockname"))
            data, source = await asyncio.wait_for(other_end.received.get(), 5)
            assert (data, source) == (b"hello through coturn", (host, port))
            other.sendto(b"and back", (host, port))
            assert await asyncio.wait_for(client.received.get(), 5) == (
                b"and back",
                other.get_extra_info("sockname"),
            )
            assert client.errors == []
        finally:
            other.close()


async def refusal(url: str, username: str, password: str) -> int:
    """The error code of the allocation's refusal (it must be refused)."""
    with pytest.raises(stun.TransactionFailed) as refused:
        async with allocation(url, username, password):
            pass
    code: int = refused.value.response.attributes["ERROR-CODE"][0]
    return code


@pytest.mark.parametrize("ago", [timedelta(seconds=5), timedelta(days=1)])
async def test_an_expired_credential_is_refused(turn_server: TurnServer, ago: timedelta) -> None:
    turn = credential(turn_server, datetime.now(UTC) - ago)
    assert turn.username is not None
    assert turn.credential is not None
    assert await refusal(turn_server.urls[0], turn.username, turn.credential) in (401, 438)


Forge = Callable[[str, str], tuple[str, str]]  # (genuine name, secret) -> (name, password)


def other_secret(name: str, secret: str) -> tuple[str, str]:
    return name, turn_password("not-" + secret, name)


def expiry_extended(name: str, secret: str) -> tuple[str, str]:
    expiry, user = name.split(":", 1)
    return f"{int(expiry) + 86400}:{user}", turn_password(secret, name)


def other_user(name: str, secret: str) -> tuple[str, str]:
    expiry, _ = name.split(":", 1)
    return f"{expiry}:{uuid.uuid4()}", turn_password(secret, name)


@pytest.mark.parametrize("forge", [other_secret, expiry_extended, other_user])
async def test_a_forged_credential_is_refused(turn_server: TurnServer, forge: Forge) -> None:
    username, password = forge(turn_username(USER, in_minutes(5)), turn_server.secret)
    assert await refusal(turn_server.urls[0], username, password) in (401, 438)


async def test_coturn_relays_to_loopback_only_when_told(tmp_path: Path) -> None:
    """Without ``allow-loopback-peers`` (as in production) coturn allocates but will not relay
    to 127.0.0.0/8: the tests' server allows it because every peer of theirs is on loopback."""
    with real_coturn(tmp_path, allow_loopback_peers=False) as server:
        turn = credential(server, in_minutes(5))
        async with allocation(server.urls[0], turn.username, turn.credential) as (relayed, client):
            relayed.sendto(b"hello", ("127.0.0.1", server.port))
            for _ in range(50):
                if client.errors:
                    break
                await asyncio.sleep(0.1)
            [error] = client.errors
            assert isinstance(error, stun.TransactionFailed)
            assert error.response.attributes["ERROR-CODE"] == (403, "Forbidden IP")


async def test_an_allocation_outlives_its_credential(turn_server: TurnServer) -> None:
    """coturn checks the expiry when an allocation is made: one made in time keeps relaying
    after the credential lapses, even to a peer added then. Ending a call is CareBridge's job
    (its room and signaling), not the TURN credential's."""
    turn = credential(turn_server, datetime.now(UTC) + timedelta(seconds=2))
    assert turn.username is not None
    expiry = int(turn.username.split(":", 1)[0])
    async with allocation(turn_server.urls[0], turn.username, turn.credential) as (relayed, _):
        # coturn takes the expiry's whole second as still valid, and reads a clock it updates
        # about once a second: a credential is refused from about 1 s after its expiry.
        await asyncio.sleep(expiry + 2.5 - datetime.now(UTC).timestamp())
        loop = asyncio.get_running_loop()
        late, late_end = await loop.create_datagram_endpoint(Peer, local_addr=("127.0.0.1", 0))
        try:
            relayed.sendto(b"after the expiry", late.get_extra_info("sockname"))
            data, _ = await asyncio.wait_for(late_end.received.get(), 5)
            assert data == b"after the expiry"
        finally:
            late.close()
    assert await refusal(turn_server.urls[0], turn.username, turn.credential or "") in (401, 438)
