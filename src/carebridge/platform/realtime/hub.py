"""The sockets of this process and the topics they follow. ``deliver`` is called by the broker
for every event: the frame is encoded once and written to each subscribed socket in one loop."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog
from prometheus_client import Counter, Gauge

from carebridge.platform.metrics import Metrics
from carebridge.platform.realtime.frames import message, wire_frame
from carebridge.platform.realtime.sinks import Sink
from carebridge.platform.realtime.topics import Identity

log = structlog.get_logger(__name__)

# Close codes the client can act on (4000-4999 are for applications).
CLOSE_SESSION_ENDED = 4401
CLOSE_SILENT = 4408
CLOSE_TOO_SLOW = 4429
CLOSE_GOING_AWAY = 1001

SESSION_TOPIC = "session."  # internal: "session.<id>" ended → its sockets close


@dataclass(eq=False)
class Connection:
    identity: Identity
    sink: Sink
    close: Callable[[int, str], None]
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    topics: set[str] = field(default_factory=set)
    last_heard: float = field(default_factory=time.monotonic)
    # Topics being replayed: their live events wait here until the replay is sent.
    held: dict[str, list[bytes]] = field(default_factory=dict)

    def send(self, payload: bytes) -> bool:
        return self.sink.write(wire_frame(payload), payload)


class RealtimeMetrics:
    def __init__(self, metrics: Metrics) -> None:
        registry = metrics.registry
        self.connections = Gauge(
            "carebridge_realtime_connections", "Open WebSockets", registry=registry
        )
        self.subscriptions = Gauge(
            "carebridge_realtime_subscriptions", "Topic subscriptions", registry=registry
        )
        self.frames = Counter(
            "carebridge_realtime_frames_sent", "Frames written to sockets", registry=registry
        )
        self.drops = Counter(
            "carebridge_realtime_drops",
            "Sockets closed by the server, by reason",
            ["reason"],
            registry=registry,
        )


class Hub:
    def __init__(self, metrics: RealtimeMetrics) -> None:
        self.metrics = metrics
        self.connections: set[Connection] = set()
        self.by_topic: defaultdict[str, set[Connection]] = defaultdict(set)
        self.by_session: defaultdict[uuid.UUID, set[Connection]] = defaultdict(set)
        self.holding: set[Connection] = set()  # connections with a topic being replayed

    def add(self, connection: Connection) -> None:
        self.connections.add(connection)
        self.by_session[connection.identity.session_id].add(connection)
        self.metrics.connections.inc()

    def remove(self, connection: Connection) -> None:
        if connection not in self.connections:
            return
        self.connections.discard(connection)
        self.holding.discard(connection)
        for topic in list(connection.topics):
            self.unsubscribe(connection, topic)
        sessions = self.by_session[connection.identity.session_id]
        sessions.discard(connection)
        if not sessions:
            del self.by_session[connection.identity.session_id]
        self.metrics.connections.dec()

    def subscribe(self, connection: Connection, topic: str) -> None:
        if topic not in connection.topics:
            connection.topics.add(topic)
            self.by_topic[topic].add(connection)
            self.metrics.subscriptions.inc()

    def unsubscribe(self, connection: Connection, topic: str) -> None:
        if topic in connection.topics:
            connection.topics.discard(topic)
            followers = self.by_topic[topic]
            followers.discard(connection)
            if not followers:
                del self.by_topic[topic]
            self.metrics.subscriptions.dec()

    def deliver(self, topic: str, payload: bytes) -> None:
        """One event from the broker: encode once, write to every local subscriber."""
        if topic.startswith(SESSION_TOPIC):
            self._end_session(topic)
            return
        followers = self.by_topic.get(topic)
        if not followers:
            return
        if self.holding:
            waiting = [c for c in followers if c in self.holding and topic in c.held]
            for connection in waiting:
                connection.held[topic].append(payload)
            if waiting:
                followers = followers.difference(waiting)
        self._write_all(list(followers), payload)

    def hold(self, connection: Connection, topic: str) -> None:
        """Keep ``topic``'s live events for ``connection`` until :meth:`release` (while what
        came before them is read and sent)."""
        connection.held[topic] = []
        self.holding.add(connection)

    def release(self, connection: Connection, topic: str) -> list[bytes]:
        """Stop holding ``topic`` for ``connection``: the events held meanwhile, in order."""
        held = connection.held.pop(topic, [])
        if not connection.held:
            self.holding.discard(connection)
        return held

    def broadcast(self, payload: bytes) -> None:
        """A frame for every socket of this process (pings, resync)."""
        self._write_all(list(self.connections), payload)

    def resync(self) -> None:
        """Events may have been missed (the broker reconnected): clients subscribe again and get
        fresh snapshots."""
        self.broadcast(message("resync"))

    def _write_all(self, connections: list[Connection], payload: bytes) -> None:
        frame = wire_frame(payload)
        slow = [c for c in connections if not c.sink.write(frame, payload)]
        self.metrics.frames.inc(len(connections) - len(slow))
        for connection in slow:
            self.drop(connection, "slow", CLOSE_TOO_SLOW)

    def drop(self, connection: Connection, reason: str, code: int) -> None:
        log.info("realtime_drop", reason=reason, user_id=str(connection.identity.user_id))
        self.metrics.drops.labels(reason=reason).inc()
        self.remove(connection)
        if reason == "slow":
            connection.sink.abort()  # its buffer is full: a close frame would queue behind it
        else:
            connection.close(code, reason)

    def _end_session(self, topic: str) -> None:
        try:
            session_id = uuid.UUID(topic.removeprefix(SESSION_TOPIC))
        except ValueError:
            return
        self.end_session(session_id)

    def end_session(self, session_id: uuid.UUID) -> None:
        for connection in list(self.by_session.get(session_id, ())):
            self.drop(connection, "session_ended", CLOSE_SESSION_ENDED)

    def drop_silent(self, older_than: float) -> None:
        for connection in [c for c in self.connections if c.last_heard < older_than]:
            self.drop(connection, "silent", CLOSE_SILENT)

    async def close_all(self) -> None:
        for connection in list(self.connections):
            self.remove(connection)
            connection.close(CLOSE_GOING_AWAY, "server shutting down")
        await asyncio.sleep(0)
