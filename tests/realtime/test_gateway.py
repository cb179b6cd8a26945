"""The WebSocket gateway against a running server with real clients: tickets, origin, topic
authorization, session revocation, silent and slow clients."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text, update
from starlette.websockets import WebSocket
from websockets.exceptions import ConnectionClosed, InvalidStatus

from carebridge.accounts.models import RealtimeTicket
from carebridge.platform.events import publish
from carebridge.platform.realtime.gateway import origin_allowed
from tests.factories.realtime import Live, Serve, next_frame, subscribe
from tests.factories.settings import make_settings


async def refused_status(live: Live, ticket: str, origin: str | None = None) -> int:
    with pytest.raises(InvalidStatus) as refused:
        async with live.socket(ticket, origin=origin):
            pass
    return refused.value.response.status_code


class TestOpening:
    async def test_refused_without_a_ticket(self, live: Live) -> None:
        assert await refused_status(live, "") == 401
        assert await refused_status(live, "made-up-ticket") == 401

    async def test_ticket_needs_a_signed_in_caller(self, live: Live) -> None:
        assert (await live.http.post("/api/v1/ws/ticket")).status_code == 401

    async def test_a_ticket_opens_one_socket_only(self, live: Live) -> None:
        member = await live.member()
        ticket = await live.ticket(member)
        async with live.socket(ticket) as socket:
            await socket.send(json.dumps({"type": "ping", "id": 7}))
            assert await next_frame(socket) == {"type": "pong", "id": 7}
        assert await refused_status(live, ticket) == 401

    async def test_an_expired_ticket_is_refused(self, live: Live) -> None:
        ticket = await live.ticket(await live.member())
        async with live.database.transaction() as db:  # its 30 seconds are over
            await db.execute(
                update(RealtimeTicket).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        assert await refused_status(live, ticket) == 401

    async def test_another_sites_page_is_refused(self, live: Live) -> None:
        member = await live.member()
        assert await refused_status(live, await live.ticket(member), "https://evil.example") == 403
        async with live.socket(await live.ticket(member), origin=live.url) as socket:
            await socket.send(json.dumps({"type": "ping"}))
            assert (await next_frame(socket))["type"] == "pong"

    async def test_a_page_of_the_served_address_opens_it_when_the_public_url_is_elsewhere(
        self, serve: Serve
    ) -> None:
        # `carebridge serve --port 8010` with the default public URL: outside production the
        # page's own address may open the stream; another site's still may not.
        async with serve(public_base_url="http://127.0.0.1:8000") as live:
            member = await live.member()
            async with live.socket(await live.ticket(member), origin=live.url) as socket:
                await socket.send(json.dumps({"type": "ping"}))
                assert (await next_frame(socket))["type"] == "pong"
            refused = await refused_status(live, await live.ticket(member), "http://evil.example")
            assert refused == 403


def _upgrade(origin: str, host: str = "127.0.0.1:8010") -> WebSocket:
    headers = [(b"host", host.encode()), (b"origin", origin.encode())]
    scope = {"type": "websocket", "scheme": "ws", "path": "/api/v1/ws", "headers": headers}
    return WebSocket(scope, receive=None, send=None)  # type: ignore[arg-type]


def test_production_lets_in_only_the_public_url_and_says_why_it_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    production = make_settings(
        tmp_path, environment="production", public_base_url="https://clinic.example"
    )
    development = make_settings(tmp_path, environment="development")
    assert origin_allowed(_upgrade("https://clinic.example"), production)
    assert not origin_allowed(_upgrade("http://127.0.0.1:8010"), production)
    logged = capsys.readouterr()
    assert "realtime_origin_refused" in logged.out + logged.err
    assert origin_allowed(_upgrade("http://127.0.0.1:8010"), development)
    assert not origin_allowed(_upgrade("http://evil.example"), development)


class TestTopics:
    async def test_own_user_topic_only(self, live: Live) -> None:
        me, other = await live.member(), await live.member()
        async with await live.open(me) as socket:
            refused = await subscribe(socket, f"user.{other.user_id}")
            assert refused[-1]["type"] == "error"
            assert refused[-1]["code"] == "forbidden_topic"
            for topic in ("session.x", "nothing.here", f"user.{me.user_id}x"):
                assert (await subscribe(socket, topic))[-1]["code"] == "forbidden_topic"
            assert (await subscribe(socket, f"user.{me.user_id}"))[-1]["type"] == "subscribed"

    async def test_events_of_a_topic_reach_its_subscribers_in_order(self, live: Live) -> None:
        me = await live.member()
        async with await live.open(me) as socket:
            await subscribe(socket, f"user.{me.user_id}")
            for n in range(3):
                await publish(f"user.{me.user_id}", "notification.created", {"n": n})
            frames = [await next_frame(socket) for _ in range(3)]
        assert [f["data"]["n"] for f in frames] == [0, 1, 2]
        assert frames[0]["topic"] == f"user.{me.user_id}"
        assert frames[0]["event"] == "notification.created"
        seqs = [f["seq"] for f in frames]
        assert seqs == sorted(seqs)
        assert len(set(seqs)) == 3

    async def test_bad_frames_get_error_frames_not_a_disconnect(self, live: Live) -> None:
        async with await live.open(await live.member()) as socket:
            for text in ("not json", "[1]", '{"type": "dance"}', '{"type": "subscribe"}'):
                await socket.send(text)
                assert (await next_frame(socket))["type"] == "error"
            await socket.send(json.dumps({"type": "ping"}))
            assert (await next_frame(socket))["type"] == "pong"

    @pytest.mark.parametrize(
        "text",
        [
            "[" * 50_000 + "]" * 50_000,  # raised RecursionError and dropped the socket
            '{"type": "ping", "x": ' + "[" * 50_000,
            '{"type": "ping", "x": ' + '{"a": ' * 9 + "1" + "}" * 9 + "}",
            json.dumps({"type": "ping", "pad": "x" * 17_000}),
        ],
        ids=["nested-arrays", "unclosed-nesting", "ten-levels", "17000-characters"],
    )
    async def test_frames_too_deep_or_too_large_are_refused_before_parsing(
        self, live: Live, text: str
    ) -> None:
        async with await live.open(await live.member()) as socket:
            await socket.send(text)
            error = await next_frame(socket)
            assert (error["type"], error["code"]) == ("error", "bad_frame")
            # Brackets inside strings are text, not nesting.
            await socket.send(json.dumps({"type": "ping", "id": "[[[[[[[[[[{{{{{{{{{{"}))
            assert await next_frame(socket) == {"type": "pong", "id": "[[[[[[[[[[{{{{{{{{{{"}


class TestDisconnects:
    async def test_signing_out_closes_the_socket(self, live: Live) -> None:
        me = await live.member()
        async with await live.open(me) as socket:
            await subscribe(socket, f"user.{me.user_id}")
            response = await live.http.post("/api/v1/auth/logout", headers=me.headers)
            assert response.status_code == 204, response.text
            with pytest.raises(ConnectionClosed) as closed:
                await next_frame(socket)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4401

    async def test_a_silent_client_is_dropped(self, serve: Serve) -> None:
        async with serve(realtime_idle_timeout_seconds=1.0) as live:
            async with await live.open(await live.member()) as socket:
                # The client never answers the server's pings nor says anything.
                with pytest.raises(ConnectionClosed) as closed:
                    await next_frame(socket, timeout=5)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 4408

    async def test_a_slow_client_is_dropped_and_the_others_keep_receiving(self, live: Live) -> None:
        me = await live.member()
        async with await live.open(me) as stuck, await live.open(me) as reader:
            await subscribe(stuck, f"user.{me.user_id}")
            await subscribe(reader, f"user.{me.user_id}")
            stuck.transport.pause_reading()  # the stuck client stops reading its socket
            blob = "x" * 64_000
            received = 0
            for n in range(400):
                await publish(f"user.{me.user_id}", "bulk", {"n": n, "blob": blob})
                await asyncio.sleep(0.002)
                while True:  # the healthy reader keeps up
                    try:
                        frame = json.loads(await asyncio.wait_for(reader.recv(), 0.001))
                    except TimeoutError:
                        break
                    received += frame.get("event") == "bulk"
            while received < 400:
                frame = await next_frame(reader)
                received += frame.get("event") == "bulk"
            metrics = (await live.http.get("/metrics")).text
        assert received == 400
        assert 'carebridge_realtime_drops_total{reason="slow"} 1.0' in metrics


async def test_uvicorn_sockets_take_the_direct_write_path(live: Live) -> None:
    from carebridge.platform.realtime.sinks import TransportSink

    async with await live.open(await live.member()) as socket:
        await socket.send(json.dumps({"type": "ping"}))
        await next_frame(socket)
        sinks = [c.sink for c in live.app.state.runtime.realtime.hub.connections]
    assert len(sinks) == 1
    assert isinstance(sinks[0], TransportSink)


async def test_a_client_action_in_an_exhausted_pool_answers_busy_and_keeps_the_socket(
    serve: Serve,
) -> None:
    """Overload (every pooled connection busy for the pool timeout) answers a client action an
    `error` frame `busy`, as HTTP answers 503 `busy`: the socket stays open, so the frames after
    it are not lost with it."""
    small = {"db_pool_size": 2, "db_max_overflow": 0, "db_pool_timeout_seconds": 0.5}
    quiet = {"realtime_ping_seconds": 30, "realtime_idle_timeout_seconds": 60}  # no ticks
    async with (
        serve(**small, **quiet) as live,
        await live.open(await live.member()) as socket,
        live.database.engine.connect() as one,  # every pooled connection, kept busy
        live.database.engine.connect() as two,
    ):
        await one.execute(text("SELECT 1"))
        await two.execute(text("SELECT 1"))
        frame = {"type": "send", "conversation_id": str(uuid.uuid4()), "id": 3,
                 "client_id": str(uuid.uuid4()), "text": "Hello"}  # fmt: skip
        await socket.send(json.dumps(frame))
        answer = await next_frame(socket, lambda f: f["type"] != "pong")
        assert answer["type"] == "error"
        assert (answer["code"], answer["of"], answer["id"]) == ("busy", "send", 3)
        await socket.send(json.dumps({"type": "ping", "id": 4}))
        assert await next_frame(socket, lambda f: f.get("id") == 4) == {"type": "pong", "id": 4}
