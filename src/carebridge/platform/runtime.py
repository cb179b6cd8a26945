"""The long-lived resources of one process: database, job queue, Redis, metrics, keyring."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from carebridge.config import Settings
from carebridge.platform.crypto import Keyring
from carebridge.platform.db import Database
from carebridge.platform.jobs import JobQueue
from carebridge.platform.metrics import Metrics
from carebridge.platform.migrate import head_revision
from carebridge.platform.ratelimit import RateLimiter
from carebridge.platform.realtime.gateway import Gateway

if TYPE_CHECKING:
    from redis.asyncio import Redis


@dataclass
class Runtime:
    settings: Settings
    database: Database
    jobs: JobQueue
    metrics: Metrics
    ratelimiter: RateLimiter
    realtime: Gateway
    redis: Redis | None = None
    owns_database: bool = True
    migrations_head: str | None = field(default_factory=head_revision)

    @classmethod
    def create(
        cls, settings: Settings, metrics: Metrics, database: Database | None = None
    ) -> Runtime:
        owns_database = database is None
        database = database or Database.from_settings(settings)
        redis = None
        if settings.redis_url is not None:
            from redis.asyncio import Redis  # imported only when configured: it is heavy

            redis = Redis.from_url(
                settings.redis_url,
                socket_connect_timeout=3,
                socket_timeout=3,
                health_check_interval=30,
            )
        metrics.watch_database(database)
        return cls(
            settings=settings,
            database=database,
            jobs=JobQueue(settings),
            metrics=metrics,
            ratelimiter=RateLimiter(settings),
            realtime=Gateway(settings, metrics, database, redis),
            redis=redis,
            owns_database=owns_database,
        )

    @property
    def keyring(self) -> Keyring:
        """Made on first use, once per process: a command that only checks the configuration
        (``carebridge check``) reports a missing encryption key instead of failing on it. The
        real-time gateway's context holds it (its replays and client actions open sealed values
        with it), so requests, sockets and jobs of the process share one keyring."""
        return self.realtime.context.keyring

    async def open(self) -> None:
        await self.jobs.open()
        await self.realtime.open()

    async def close(self) -> None:
        await self.realtime.close()
        await self.jobs.close()
        if self.redis is not None:
            await self.redis.aclose()
        if self.owns_database:
            await self.database.dispose()
