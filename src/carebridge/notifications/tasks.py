"""Delivery jobs: batches of rows, retries scheduled at each row's backoff, and a sweep."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

import structlog
from procrastinate import JobContext
from procrastinate.types import JSONValue
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from carebridge.config import Settings
from carebridge.notifications.delivery import deliver_batch, due_deliveries
from carebridge.notifications.transports import transports_for
from carebridge.platform.jobs import (
    defer_batch,
    defer_batch_after_commit,
    job_app,
    task_resources,
)
from carebridge.platform.ratelimit import RateLimiter

log = structlog.get_logger(__name__)

BATCH = 100
QUEUE = "notifications"


@job_app.task(name="notifications.deliver", queue=QUEUE, pass_context=True)
async def deliver_task(context: JobContext, delivery_ids: list[str]) -> None:
    """Deliver a batch of rows. Failures do not fail the job: each row carries its own retry
    time, and a job is scheduled for it (the sweep is the safety net)."""
    resources = task_resources(context)
    settings, database = resources.settings, resources.database
    transports = transports_for(settings, database)
    limiter = _limiter(settings)
    retries: dict[datetime, list[str]] = {}
    outcomes = await deliver_batch(
        database, settings, transports, limiter, [uuid.UUID(raw) for raw in delivery_ids]
    )
    for delivery_id, (_, retry_at) in outcomes.items():
        if retry_at is not None:
            retries.setdefault(retry_at, []).append(str(delivery_id))
    for retry_at, ids in retries.items():
        deferrer = deliver_task.configure(schedule_at=retry_at)
        await deferrer.defer_async(delivery_ids=cast(list[JSONValue], ids))


_limiters: dict[str, RateLimiter] = {}


def _limiter(settings: Settings) -> RateLimiter:
    """One limiter per backend for the worker's lifetime, so channel rates hold across jobs."""
    key = settings.redis_url or "memory"
    if key not in _limiters:
        _limiters[key] = RateLimiter(settings)
    return _limiters[key]


async def defer_deliveries(engine: AsyncEngine, delivery_ids: Sequence[uuid.UUID]) -> None:
    """One job per batch of rows, not one per row, all in one statement."""
    await defer_batch(engine, deliver_task, _jobs(delivery_ids))


def deliver_after_commit(session: AsyncSession, delivery_ids: Sequence[uuid.UUID]) -> None:
    """The jobs of ``defer_deliveries``, deferred once ``session`` commits."""
    defer_batch_after_commit(session, deliver_task, _jobs(delivery_ids))


def _jobs(delivery_ids: Sequence[uuid.UUID]) -> list[dict[str, Any]]:
    ids = [str(i) for i in delivery_ids]
    return [{"delivery_ids": ids[start : start + BATCH]} for start in range(0, len(ids), BATCH)]


@job_app.periodic(cron="* * * * *", periodic_id="minutely")
@job_app.task(name="notifications.sweep", queue=QUEUE, pass_context=True)
async def sweep_task(context: JobContext, timestamp: int) -> None:
    """Restart rows that are due (quiet hours over, retry time reached) or were left
    ``sending`` by a worker that died."""
    resources = task_resources(context)
    due = await due_deliveries(resources.database, resources.settings)
    if due:
        log.info("deliveries_swept", count=len(due))
        await defer_deliveries(resources.database.engine, due)
