"""The WebSocket session: origin check, client messages (subscribe, unsubscribe, ping), topic
authorization with snapshots, server pings, silent-client and ended-session drops.

The ticket is redeemed by the accounts domain (``accounts/realtime.py``), which then hands the
socket and the caller's identity to :meth:`Gateway.serve`.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import structlog
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.responses import JSONResponse
from starlette.websockets import WebSocket

from carebridge.config import Settings
from carebridge.platform.db import Database
from carebridge.platform.errors import CareBridgeError
from carebridge.platform.events import listen
from carebridge.platform.metrics import Metrics
from carebridge.platform.realtime.broker import Broker, MemoryBroker, RedisBroker
from carebridge.platform.realtime.frames import (
    MAX_CLIENT_FRAME_CHARS,
    MAX_CLIENT_FRAME_DEPTH,
    client_frame,
    message,
)
from carebridge.platform.realtime.hub import Connection, Hub, RealtimeMetrics
from carebridge.platform.realtime.sinks import QueueSink, Sink, TransportSink, server_protocol
from carebridge.platform.realtime.topics import (
    CONTEXT_KEY,
    HOOKS,
    GatewayContext,
    Identity,
    Replay,
    TopicRule,
    rule_for,
)
from carebridge.platform.registry import REALTIME_MODULES

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = structlog.get_logger(__name__)

MAX_TOPIC_LENGTH = 200


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def allowed_origins(settings: Settings) -> set[str]:
    configured = settings.realtime_allowed_origins or [
        settings.public_base_url,
        *settings.cors_origins,
    ]
    return {_origin_of(origin) for origin in configured}


def served_origin(websocket: WebSocket) -> str:
    """The origin of the address this socket was opened at (its scheme and Host header)."""
    scheme = "https" if websocket.url.scheme in ("wss", "https") else "http"
    return f"{scheme}://{websocket.headers.get('host', '')}".lower()


_refused_origins: set[str] = set()  # logged once per process each


def origin_allowed(websocket: WebSocket, settings: Settings) -> bool:
    """Browsers always send Origin: a page of another site may not open our socket. Clients
    that are not browsers send none and are let through (they still need a ticket). Outside
    production a page of the address being served is let in too (``carebridge serve --port
    8010`` without changing the public URL): a page of another site cannot have it as its
    origin."""
    origin = websocket.headers.get("origin")
    if origin is None or origin.lower() in allowed_origins(settings):
        return True
    if not settings.is_production and origin.lower() == served_origin(websocket):
        return True
    if len(_refused_origins) < 100 and origin.lower() not in _refused_origins:
        _refused_origins.add(origin.lower())
        log.warning(
            "realtime_origin_refused",
            origin=origin,
            allowed=sorted(allowed_origins(settings)),
            hint="pages opened at this address get no live updates; set "
            "CAREBRIDGE_PUBLIC_BASE_URL (or CAREBRIDGE_REALTIME_ALLOWED_ORIGINS) to it",
        )
    return False


async def refuse(websocket: WebSocket, status: int, code: str, detail: str) -> None:
    """Answer the upgrade with a problem+json (or a policy close if the server cannot)."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        problem = {"type": "about:blank", "status": status, "code": code, "detail": detail}
        await websocket.send_denial_response(
            JSONResponse(problem, status_code=status, media_type="application/problem+json")
        )
    else:
        await websocket.close(code=1008, reason=code)


class Gateway:
    def __init__(
        self, settings: Settings, metrics: Metrics, database: Database, redis: Redis | None
    ) -> None:
        self.settings = settings
        self.process_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.context = GatewayContext(settings, database, self.process_id)
        self.broker: Broker = RedisBroker(redis) if redis is not None else MemoryBroker()
        self.hub = Hub(RealtimeMetrics(metrics))
        self._background: set[asyncio.Task[Any]] = set()
        self._stop_listening: Callable[[], None] | None = None
        self._ticker: asyncio.Task[None] | None = None

    async def open(self) -> None:
        for module in REALTIME_MODULES:  # their topics and hooks register at import
            importlib.import_module(module)
        await self.broker.start(self.hub.deliver, self.hub.resync)
        self._stop_listening = listen(self.publish)
        self._ticker = asyncio.create_task(self._tick_forever())

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self._stop_listening is not None:
            self._stop_listening()
        await self.hub.close_all()
        await self.broker.stop()

    async def publish(
        self, topic: str, event: str, data: dict[str, Any], seq: int | None = None
    ) -> None:
        await self.broker.publish(topic, event, data, seq=seq)

    # -- one socket ----------------------------------------------------------------------------

    async def serve(self, websocket: WebSocket, identity: Identity) -> None:
        await websocket.accept()
        connection = Connection(
            identity,
            self._sink(websocket),
            close=lambda code, reason: self._soon(websocket.close(code, reason)),
        )
        self.hub.add(connection)
        await self._run(HOOKS.opened, identity, connection)
        try:
            await self._receive(websocket, connection)
        finally:
            self.hub.remove(connection)
            await connection.sink.aclose()
            await asyncio.shield(self._run(HOOKS.closed, identity, connection))

    def _sink(self, websocket: WebSocket) -> Sink:
        settings = self.settings
        protocol = server_protocol(websocket.scope)
        if protocol is not None:
            return TransportSink(
                protocol, settings.realtime_send_buffer_bytes, settings.realtime_slow_client_seconds
            )
        return QueueSink(
            websocket.send_text,
            settings.realtime_queue_frames,
            abort=lambda: self._soon(websocket.close(4429, "too slow")),
        )

    async def _receive(self, websocket: WebSocket, connection: Connection) -> None:
        while True:
            received = await websocket.receive()
            if received["type"] == "websocket.disconnect":
                return
            connection.last_heard = time.monotonic()
            text = received.get("text")
            if text is None:
                text = (received.get("bytes") or b"").decode(errors="replace")
            await self._handle(connection, text)

    async def _handle(self, connection: Connection, text: str) -> None:
        frame = client_frame(text)
        if frame is None:
            detail = (
                f"Send a JSON object with a type, at most {MAX_CLIENT_FRAME_CHARS} characters"
                f" and {MAX_CLIENT_FRAME_DEPTH} levels deep."
            )
            connection.send(message("error", code="bad_frame", detail=detail))
            return
        kind, ref = frame["type"], frame.get("id")
        reply: dict[str, Any] = {} if ref is None else {"id": ref}
        if kind == "ping":
            connection.send(message("pong", **reply))
        elif kind == "pong":
            return
        elif kind in ("subscribe", "unsubscribe"):
            topic = frame.get("topic")
            if not isinstance(topic, str) or not 0 < len(topic) <= MAX_TOPIC_LENGTH:
                connection.send(message("error", code="bad_topic", detail="Name a topic.", **reply))
            elif kind == "subscribe":
                after = frame.get("after_seq")
                if after is not None and (type(after) is not int or not 0 <= after < 2**31):
                    detail = "`after_seq` is the last sequence number you have (0 or more)."
                    connection.send(message("error", code="bad_frame", detail=detail, **reply))
                    return
                await self._subscribe(connection, topic, reply, after)
            else:
                self.hub.unsubscribe(connection, topic)
                connection.send(message("unsubscribed", topic=topic, **reply))
        elif kind in HOOKS.actions:
            await self._act(connection, kind, frame, reply)
        else:
            known = ", ".join(["subscribe", "unsubscribe", "ping", "pong", *sorted(HOOKS.actions)])
            detail = f"Known types: {known}."
            connection.send(message("error", code="unknown_type", detail=detail, **reply))

    async def _act(
        self, connection: Connection, kind: str, frame: dict[str, Any], reply: dict[str, Any]
    ) -> None:
        """A client frame a domain handles: ``ack`` with what it answers, or ``error`` with the
        code and detail of its refusal."""
        try:
            answer = await HOOKS.actions[kind](self.context, connection.identity, frame)
        except CareBridgeError as exc:
            connection.send(
                message("error", code=exc.error_code, detail=exc.detail, of=kind, **reply)
            )
            return
        except PoolTimeout:
            # Every pooled connection stayed busy for the pool timeout: overload, answered like
            # HTTP's 503 `busy`. The socket stays open (it used to be torn down with every frame
            # still queued on it); the client sends the same frame again (a `send` is idempotent
            # by its client id).
            log.warning("database_pool_exhausted", action=kind)
            detail = "CareBridge is busy right now; try again in a moment."
            connection.send(message("error", code="busy", detail=detail, of=kind, **reply))
            return
        connection.send(message("ack", of=kind, **answer, **reply))

    async def _subscribe(
        self,
        connection: Connection,
        topic: str,
        reply: dict[str, Any],
        after: int | None = None,
    ) -> None:
        if len(connection.topics) >= self.settings.realtime_max_subscriptions:
            detail = f"At most {self.settings.realtime_max_subscriptions} topics per connection."
            connection.send(
                message("error", code="too_many_topics", topic=topic, detail=detail, **reply)
            )
            return
        rule = rule_for(topic)
        snapshot: dict[str, Any] | None = None
        replay = None if rule is None or after is None else rule.replay
        replayed: list[tuple[str, dict[str, Any]]] = []
        try:
            async with self.context.database.transaction() as db:
                db.info[CONTEXT_KEY] = self.context
                allowed = rule is not None and await rule.authorize(db, connection.identity, topic)
                if allowed and rule is not None:
                    # Subscribed before the snapshot or the replay is read: no event falls
                    # between the two (live events wait while a replay is read and sent).
                    self.hub.subscribe(connection, topic)
                    if replay is not None:
                        self.hub.hold(connection, topic)
                    replayed = await self._read(rule, replay, db, connection, topic, after)
                    if rule.snapshot is not None:
                        snapshot = await rule.snapshot(db, connection.identity, topic)
        except Exception:
            log.exception("realtime_subscribe_failed", topic_pattern=getattr(rule, "pattern", ""))
            self.hub.release(connection, topic)
            self.hub.unsubscribe(connection, topic)
            detail = "The topic could not be read; subscribe again."
            connection.send(message("error", code="subscribe_failed", topic=topic, detail=detail))
            return
        if not allowed:
            detail = "This topic does not exist or you may not read it."
            connection.send(
                message("error", code="forbidden_topic", topic=topic, detail=detail, **reply)
            )
            return
        if snapshot is not None:
            connection.send(message("snapshot", topic=topic, data=snapshot))
        if replay is None or after is None:
            connection.send(message("subscribed", topic=topic, **reply))
            return
        self._send_replay(connection, topic, replay, replayed, after, reply)

    async def _read(
        self,
        rule: TopicRule,
        replay: Replay | None,
        db: Any,
        connection: Connection,
        topic: str,
        after: int | None,
    ) -> list[tuple[str, dict[str, Any]]]:
        if replay is None or after is None:
            return []
        return await replay.read(
            self.context, db, connection.identity, topic, after, replay.limit + 1
        )

    def _send_replay(
        self,
        connection: Connection,
        topic: str,
        replay: Replay,
        replayed: list[tuple[str, dict[str, Any]]],
        after: int,
        reply: dict[str, Any],
    ) -> None:
        """The replayed events, ``subscribed`` (how far the replay went), then the live events
        held meanwhile, minus those the replay already carried: in one go, without an await, so
        nothing comes between them."""
        complete = len(replayed) <= replay.limit
        replayed = replayed[: replay.limit]
        through = after
        for event, data in replayed:
            connection.send(
                message("event", topic=topic, event=event, data=data, seq=None, replay=True)
            )
            if event == replay.event and isinstance(data.get("seq"), int):
                through = max(through, data["seq"])
        connection.send(
            message(
                "subscribed",
                topic=topic,
                replayed=len(replayed),
                through=through,
                complete=complete,
                **reply,
            )
        )
        for payload in self.hub.release(connection, topic):
            if not _replayed_already(payload, replay.event, through):
                connection.send(payload)

    async def _run(
        self,
        hooks: list[Callable[[GatewayContext, Identity, Any], Awaitable[None]]],
        identity: Identity,
        connection: Connection,
    ) -> None:
        for hook in hooks:
            try:
                await hook(self.context, identity, connection.id)
            except Exception:
                log.exception("realtime_hook_failed", hook=getattr(hook, "__name__", "?"))

    def _soon(self, coroutine: Awaitable[None]) -> None:
        async def run() -> None:
            with contextlib.suppress(Exception):
                await coroutine

        task = asyncio.create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- every few seconds ---------------------------------------------------------------------

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.realtime_ping_seconds)
            try:
                await self.tick()
            except Exception:
                log.exception("realtime_tick_failed")

    async def tick(self) -> None:
        """Ping every socket, drop the silent, close sockets of ended sessions, let domains
        refresh what they keep per connection."""
        self.hub.broadcast(message("ping"))
        self.hub.drop_silent(time.monotonic() - self.settings.realtime_idle_timeout_seconds)
        sessions = set(self.hub.by_session)
        if sessions and HOOKS.live_sessions is not None:
            async with self.context.database.transaction() as db:
                live = await HOOKS.live_sessions(db, sessions)
            for session_id in sessions - live:
                self.hub.end_session(session_id)
        if self.context.database.bound:
            # One connection (the tests' outer transaction) cannot hold a sweep's transaction
            # beside a request's: their savepoints would end each other. Tests run the sweeps
            # directly; a served app's database is never bound.
            return
        for hook in HOOKS.ticks:
            await hook(self.context)


def _replayed_already(payload: bytes, event: str, through: int) -> bool:
    """Whether a live event held during a replay is one the replay carried."""
    frame = json.loads(payload)
    seq = frame.get("data", {}).get("seq")
    return bool(frame.get("event") == event and isinstance(seq, int) and seq <= through)


@asynccontextmanager
async def forward_events(redis: Redis | None) -> AsyncIterator[None]:
    """In a process without sockets (``carebridge worker``): events published there reach the
    sockets of the API processes through Redis."""
    if redis is None:
        yield
        return
    broker = RedisBroker(redis)

    async def forward(topic: str, event: str, data: dict[str, Any], seq: int | None) -> None:
        await broker.publish(topic, event, data, seq=seq)

    stop = listen(forward)
    try:
        yield
    finally:
        stop()
