"""A small cache for answers many people ask for at once (the doctor directory's listings).

Two backends behind one interface, chosen like the rate limiter's: in memory for one process
(entries expire after the TTL; the least recently used go first past ``cache_max_entries``), and
Redis when ``CAREBRIDGE_REDIS_URL`` is set, so every process shares entries and invalidations.

Invalidation is by generation. Each namespace has a counter that is part of every key written
under it; :meth:`Cache.invalidate` increments it, so every entry written before becomes
unreachable at once and expires on its own. In Redis the counter is a key: a bump in one process
is seen by all. Readers take the generation *before* computing a value, so a value computed
from data older than a bump is stored under the old generation and never served after it.

:func:`invalidate_everywhere` bumps a namespace in every cache of this process (each
application instance has one), so code that changes data needs no handle on a cache: with
Redis, that reaches every process; a process that has no cache of its own (a separate worker)
reaches no one, and its changes show when entries expire.

Values are bytes (a serialised response), so a hit costs no serialisation. ``cache_ttl_seconds``
of 0 turns caching off. A Redis that fails is logged and skipped: the answer is computed instead.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Protocol

import structlog
from fastapi import Depends, Request
from starlette.types import ASGIApp

from carebridge.config import Settings

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = structlog.get_logger(__name__)

Produce = Callable[[], Awaitable[bytes]]


class CacheBackend(Protocol):
    async def generation(self, namespace: str) -> int: ...

    async def bump(self, namespace: str) -> None: ...

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl: float) -> None: ...


class MemoryBackend:
    """One process's entries: expiring, size-bounded, least recently used evicted first."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._generations: dict[str, int] = {}

    async def generation(self, namespace: str) -> int:
        return self._generations.get(namespace, 0)

    async def bump(self, namespace: str) -> None:
        self._generations[namespace] = self._generations.get(namespace, 0) + 1

    async def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, value = entry
        if expires_at <= time.monotonic():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        self._entries[key] = (time.monotonic() + ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


class RedisBackend:
    """Entries and generations shared by every process through Redis."""

    def __init__(self, redis: Redis, prefix: str = "carebridge:cache:") -> None:
        self.redis = redis
        self.prefix = prefix

    async def generation(self, namespace: str) -> int:
        raw = await self.redis.get(f"{self.prefix}generation:{namespace}")
        return int(raw) if raw is not None else 0

    async def bump(self, namespace: str) -> None:
        await self.redis.incr(f"{self.prefix}generation:{namespace}")

    async def get(self, key: str) -> bytes | None:
        value = await self.redis.get(self.prefix + key)
        return value if isinstance(value, bytes) or value is None else str(value).encode()

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        await self.redis.set(self.prefix + key, value, px=max(1, int(ttl * 1000)))


_LIVE: weakref.WeakSet[Cache] = weakref.WeakSet()


class Cache:
    def __init__(self, backend: CacheBackend, ttl_seconds: float) -> None:
        _LIVE.add(self)
        self.backend = backend
        self.ttl_seconds = ttl_seconds
        self._pending: dict[str, asyncio.Future[bytes]] = {}
        self._failures: tuple[type[BaseException], ...] = (OSError,)
        if isinstance(backend, RedisBackend):
            from redis.exceptions import RedisError

            self._failures = (RedisError, OSError)

    @classmethod
    def from_settings(cls, settings: Settings, redis: Redis | None = None) -> Cache:
        """Redis when configured (``redis`` reuses a client, else one is made), else memory."""
        if settings.redis_url is None:
            return cls(MemoryBackend(settings.cache_max_entries), settings.cache_ttl_seconds)
        if redis is None:
            from redis.asyncio import Redis

            redis = Redis.from_url(settings.redis_url, socket_connect_timeout=3, socket_timeout=3)
        return cls(RedisBackend(redis), settings.cache_ttl_seconds)

    @property
    def enabled(self) -> bool:
        return self.ttl_seconds > 0

    async def get_or_set(self, namespace: str, key: str, produce: Produce) -> bytes:
        """The cached value of ``key``, or ``produce()``'s, stored for the TTL. Concurrent
        misses of one key in this process share one ``produce()``."""
        if not self.enabled:
            return await produce()
        try:
            generation = await self.backend.generation(namespace)
            full_key = f"{namespace}:{generation}:{key}"
            cached = await self.backend.get(full_key)
        except self._failures:
            log.warning("cache_unavailable", exc_info=True)
            return await produce()
        if cached is not None:
            return cached
        return await self._produce_once(full_key, produce)

    async def _produce_once(self, full_key: str, produce: Produce) -> bytes:
        pending = self._pending.get(full_key)
        if pending is not None:
            await asyncio.wait({pending})
            if not pending.cancelled():
                return pending.result()
            return await produce()  # the first producer failed: try on our own
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[full_key] = future
        try:
            value = await produce()
        except BaseException:
            future.cancel()
            raise
        finally:
            self._pending.pop(full_key, None)
        future.set_result(value)
        try:
            await self.backend.set(full_key, value, self.ttl_seconds)
        except self._failures:
            log.warning("cache_unavailable", exc_info=True)
        return value

    async def invalidate(self, namespace: str) -> None:
        """Make every entry of ``namespace`` unreachable, in every process sharing the backend."""
        try:
            await self.backend.bump(namespace)
        except self._failures:
            # Entries still expire after the TTL; nothing else can be done without the backend.
            log.warning("cache_invalidation_failed", namespace=namespace, exc_info=True)


async def invalidate_everywhere(namespace: str) -> None:
    """Invalidate ``namespace`` in every cache of this process (and so, in Redis, for all)."""
    for cache in list(_LIVE):
        await cache.invalidate(namespace)


def cache_of(app: ASGIApp) -> Cache:
    """The cache of this application: one per process, made on first use from the runtime
    (so it shares the runtime's Redis client)."""
    state = app.state  # type: ignore[attr-defined]
    cache = getattr(state, "cache", None)
    if cache is None:
        runtime = state.runtime
        cache = state.cache = Cache.from_settings(runtime.settings, runtime.redis)
    assert isinstance(cache, Cache)
    return cache


async def get_cache(request: Request) -> Cache:
    return cache_of(request.app)


CacheDep = Annotated[Cache, Depends(get_cache)]
