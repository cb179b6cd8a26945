"""Rate limits on the `limits` library: in memory for one process, in Redis when configured."""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.aio.strategies import FixedWindowRateLimiter
from limits.storage import storage_from_string

from carebridge.config import Settings
from carebridge.platform.errors import RateLimited


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        if settings.redis_url is None:
            storage = storage_from_string("async+memory://")
        else:
            storage = storage_from_string(
                f"async+{settings.redis_url}", implementation="redispy", key_prefix="carebridge"
            )
        self._limiter = FixedWindowRateLimiter(storage)
        self._items: dict[str, RateLimitItem] = {}

    def _item(self, rule: str) -> RateLimitItem:
        item = self._items.get(rule)
        if item is None:
            item = self._items[rule] = parse(rule)
        return item

    async def hit(self, rule: str, *keys: str, detail: str | None = None) -> None:
        """Count one attempt against ``rule`` (e.g. ``"10/minute"``) for ``keys``; raise 429
        with ``Retry-After`` when the limit is exceeded."""
        item = self._item(rule)
        if await self._limiter.hit(item, *keys):
            return
        reset_at, _ = await self._limiter.get_window_stats(item, *keys)
        retry_after = max(1, math.ceil(reset_at - time.time()))
        raise RateLimited(detail or "Too many attempts; try again later.", retry_after=retry_after)

    async def clear(self, rule: str, *keys: str) -> None:
        await self._limiter.clear(self._item(rule), *keys)
