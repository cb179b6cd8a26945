"""The app served in-process, and its job queue: a client with the app's lifespan running, a
worker run until a queue is empty, the jobs a test deferred emptied afterwards."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from carebridge.config import Settings
from carebridge.platform.db import Database
from carebridge.platform.jobs import job_app, run_worker
from tests.factories.routes import check_no_overrides


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client of ``app`` with its lifespan running (``raise_app_exceptions=False``: a 500 is a
    response, as in production). The lifespan opens the job queue, which is global: one open
    lifespan at a time."""
    check_no_overrides(app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://testserver",
        ) as client,
    ):
        yield client


@pytest.fixture
async def jobs(client: httpx.AsyncClient) -> AsyncIterator[None]:
    """The app's lifespan opens the job queue; the notifications queue is emptied afterwards
    (jobs are committed outside the test's transaction)."""
    yield
    await job_app.connector.execute_query_async(
        "DELETE FROM procrastinate_jobs WHERE queue_name = 'notifications'"
    )


async def work(settings: Settings, database: Database, queue: str = "notifications") -> None:
    """Run a worker until ``queue`` is empty. One job at a time: the test's database is a single
    connection (one outer transaction)."""
    await run_worker(
        settings,
        database,
        queues=[queue],
        wait=False,
        install_signal_handlers=False,
        concurrency=1,
    )


async def wait_until(moment: datetime) -> None:
    """Sleep until ``moment`` (a retry time) has passed."""
    await asyncio.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()) + 0.2)
