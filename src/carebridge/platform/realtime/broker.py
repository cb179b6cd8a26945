"""Brokers carry events between processes. ``MemoryBroker`` serves one process; ``RedisBroker``
publishes through Redis, and each process holds one subscription and fans out locally."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from carebridge.platform.realtime.frames import complete, event_prefix

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

log = structlog.get_logger(__name__)

# (topic, complete JSON payload) for every event, in every process.
Deliver = Callable[[str, bytes], None]
# Called after the broker reconnected: events may have been missed, clients should resync.
Resync = Callable[[], None]


class Broker(Protocol):
    async def start(self, deliver: Deliver, resync: Resync) -> None: ...

    async def publish(
        self, topic: str, event: str, data: dict[str, Any], *, seq: int | None = None
    ) -> None: ...

    async def stop(self) -> None: ...


class MemoryBroker:
    """One process: events go straight to the local hub, numbered per topic."""

    def __init__(self) -> None:
        self._deliver: Deliver | None = None
        self._counters: defaultdict[str, itertools.count[int]] = defaultdict(
            lambda: itertools.count(1)
        )

    async def start(self, deliver: Deliver, resync: Resync) -> None:
        self._deliver = deliver

    async def publish(
        self, topic: str, event: str, data: dict[str, Any], *, seq: int | None = None
    ) -> None:
        if self._deliver is None:
            return
        number = seq if seq is not None else next(self._counters[topic])
        self._deliver(topic, complete(event_prefix(topic, event, data), number))

    async def stop(self) -> None:
        self._deliver = None


CHANNEL = "carebridge:realtime"
SEQ_KEY = "carebridge:realtime:seq:"

# Number and publish atomically, so the order on the channel is the order of the numbers.
_PUBLISH = """
local seq = ARGV[3]
if seq == '' then seq = tostring(redis.call('INCR', KEYS[1])) end
return redis.call('PUBLISH', ARGV[1], ARGV[2] .. seq .. '}')
"""


class RedisBroker:
    """Many processes: one Redis channel carries ``<topic>\\n<payload>``; one subscription per
    process, re-established with backoff if Redis goes away (then clients are told to resync)."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._script = redis.register_script(_PUBLISH)
        self._reader: asyncio.Task[None] | None = None

    async def start(self, deliver: Deliver, resync: Resync) -> None:
        """Subscribe now if Redis answers; otherwise keep trying in the background (the process
        still starts, and /health/ready names Redis as down)."""
        pubsub: PubSub | None = None
        try:
            pubsub = await self._subscribe()
        except Exception as error:
            log.warning("realtime_broker_unavailable", error=str(error))
        self._reader = asyncio.create_task(self._read(pubsub, deliver, resync))

    async def _subscribe(self) -> PubSub:
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(CHANNEL)
        return pubsub

    async def publish(
        self, topic: str, event: str, data: dict[str, Any], *, seq: int | None = None
    ) -> None:
        body = topic.encode() + b"\n" + event_prefix(topic, event, data)
        await self._script(
            keys=[SEQ_KEY + topic], args=[CHANNEL, body, "" if seq is None else str(seq)]
        )

    async def _read(self, pubsub: PubSub | None, deliver: Deliver, resync: Resync) -> None:
        delay = 0.5
        while True:
            try:
                if pubsub is None:
                    pubsub = await self._subscribe()
                    log.info("realtime_broker_reconnected")
                    resync()
                async for item in pubsub.listen():
                    delay = 0.5
                    topic, _, payload = bytes(item["data"]).partition(b"\n")
                    deliver(topic.decode(), payload)
                raise ConnectionError("the Redis subscription ended")
            except asyncio.CancelledError:
                if pubsub is not None:
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
                raise
            except Exception as error:
                log.warning("realtime_broker_disconnected", error=str(error), retry_in=delay)
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()  # type: ignore[no-untyped-call]
                pubsub = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
