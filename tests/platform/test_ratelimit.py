from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from carebridge.platform.errors import RateLimited
from carebridge.platform.ratelimit import RateLimiter
from tests.factories.settings import make_settings


async def exhaust(limiter: RateLimiter, key: str, allowed: int) -> None:
    for _ in range(allowed):
        await limiter.hit(f"{allowed}/minute", "probe", key)


async def test_memory_limiter_answers_429_with_retry_after(tmp_path: Path) -> None:
    limiter = RateLimiter(make_settings(tmp_path))
    await exhaust(limiter, "k", 3)
    with pytest.raises(RateLimited) as refused:
        await limiter.hit("3/minute", "probe", "k")
    assert 1 <= int(refused.value.headers["Retry-After"]) <= 60
    await limiter.hit("3/minute", "probe", "other-key")  # keys are counted apart


@pytest.mark.redis
async def test_redis_limiter_is_shared_between_processes(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, redis_url=os.environ["CAREBRIDGE_REDIS_URL"])
    first, second = RateLimiter(settings), RateLimiter(settings)  # as two processes would
    key = uuid.uuid4().hex
    await exhaust(first, key, 3)
    with pytest.raises(RateLimited):
        await second.hit("3/minute", "probe", key)
    await second.clear("3/minute", "probe", key)
    await first.hit("3/minute", "probe", key)
