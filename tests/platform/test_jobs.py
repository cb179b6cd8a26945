"""Jobs run in a real worker on the real database; failures retry with backoff."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from procrastinate import JobContext
from procrastinate.jobs import Job
from sqlalchemy.ext.asyncio import AsyncEngine

from carebridge.compliance.retention import apply_class
from carebridge.config import Settings
from carebridge.platform.access import PUBLIC
from carebridge.platform.context import CallScope
from carebridge.platform.db import Database
from carebridge.platform.deps import Session
from carebridge.platform.errors import Conflict
from carebridge.platform.housekeeping import RETENTION, retry_stalled_jobs
from carebridge.platform.jobs import (
    BackoffRetry,
    Deferrals,
    JobRow,
    defer_after_commit,
    defer_for_row,
    job_app,
    keyed_by_row,
    run_worker,
)
from tests.factories import wait_until

QUEUE = "tests"
RAN: list[str] = []
ATTEMPTS: Counter[str] = Counter()


@job_app.task(name="tests.record", queue=QUEUE)
async def record_task(key: str) -> None:
    RAN.append(key)


@job_app.task(
    name="tests.flaky",
    queue=QUEUE,
    pass_context=True,
    retry=BackoffRetry(max_attempts=3, base_seconds=1, cap_seconds=1),
)
async def flaky_task(context: JobContext, key: str) -> None:
    ATTEMPTS[key] += 1
    if ATTEMPTS[key] == 1:
        raise ConnectionError("provider unavailable")


@keyed_by_row(lock="tests:{key}", queueing_lock="tests:{key}")
@job_app.task(
    name="tests.keyed",
    queue=QUEUE,
    retry=BackoffRetry(max_attempts=2, base_seconds=0.1, cap_seconds=0.1),
)
async def keyed_task(key: str) -> None:
    RAN.append(key)


RELEASE = asyncio.Event()


@job_app.task(name="tests.slow", queue=QUEUE)
async def slow_task(key: str) -> None:
    await RELEASE.wait()
    RAN.append(key)


@pytest.fixture
async def jobs(client: httpx.AsyncClient) -> AsyncIterator[None]:
    """The job queue is opened by the app's lifespan; jobs are committed outside the test's
    transaction, so this test's queue is emptied afterwards."""
    RAN.clear()
    yield
    await job_app.connector.execute_query_async(
        "DELETE FROM procrastinate_jobs WHERE queue_name = %(queue)s", queue=QUEUE
    )


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    @app.post("/api/v1/probe/jobs", dependencies=[PUBLIC], status_code=202)
    async def enqueue(key: str, session: Session, fail: bool = False) -> None:
        defer_after_commit(session, record_task, key=key)
        if fail:
            raise Conflict("refused", code="probe_refused")

    return app


async def work(settings: Settings, database: Database) -> None:
    await run_worker(
        settings, database, queues=[QUEUE], wait=False, install_signal_handlers=False, concurrency=1
    )


async def job_rows(task_name: str) -> list[dict[str, object]]:
    return list(
        await job_app.connector.execute_query_all_async(
            "SELECT id, status::text AS status, attempts, scheduled_at, args, lock "
            "FROM procrastinate_jobs WHERE task_name = %(name)s ORDER BY id",
            name=task_name,
        )
    )


async def events(job_id: object) -> list[dict[str, object]]:
    return list(
        await job_app.connector.execute_query_all_async(
            "SELECT type::text AS type, at FROM procrastinate_events "
            "WHERE job_id = %(id)s ORDER BY id",
            id=job_id,
        )
    )


async def test_job_deferred_by_a_request_runs_in_the_worker_after_commit(
    client: httpx.AsyncClient, jobs: None, settings: Settings, database: Database
) -> None:
    key = uuid.uuid4().hex
    assert (await client.post("/api/v1/probe/jobs", params={"key": key})).status_code == 202
    refused = await client.post("/api/v1/probe/jobs", params={"key": "rolled-back", "fail": "1"})
    assert refused.status_code == 409

    rows = await job_rows("tests.record")
    assert [row["args"] for row in rows] == [{"key": key}]  # nothing for the rolled-back request
    assert rows[0]["status"] == "todo"

    await work(settings, database)

    assert RAN == [key]
    assert [row["status"] for row in await job_rows("tests.record")] == ["succeeded"]


def record_job(key: str | None) -> JobRow:
    job = record_task.configure().job
    task_name = job.task_name if key is not None else None  # no task name: the insert fails
    return (job.queue, task_name, job.priority, None, None, json.dumps({"key": key}), None)  # type: ignore[return-value]


async def test_jobs_deferred_at_the_same_moment_are_written_in_one_statement(
    client: httpx.AsyncClient, jobs: None, engine: AsyncEngine
) -> None:
    deferrals = Deferrals(engine)
    keys = [uuid.uuid4().hex for _ in range(20)]
    await asyncio.gather(*(deferrals.defer([record_job(key)]) for key in keys))
    assert deferrals.statements < len(keys)  # together, not one statement per request
    rows = await job_rows("tests.record")
    assert sorted(row["args"]["key"] for row in rows) == sorted(keys)  # type: ignore[index]
    assert {row["status"] for row in rows} == {"todo"}


async def test_a_failed_statement_fails_its_waiters_and_the_next_jobs_are_written(
    client: httpx.AsyncClient, jobs: None, engine: AsyncEngine
) -> None:
    deferrals = Deferrals(engine)
    failed = await asyncio.gather(
        deferrals.defer([record_job(None)]), deferrals.defer([record_job("same batch")]),
        return_exceptions=True,
    )  # fmt: skip
    assert all(isinstance(outcome, Exception) for outcome in failed)
    assert await job_rows("tests.record") == []  # one statement: all of it or nothing
    await deferrals.defer([record_job("next")])
    assert [row["args"] for row in await job_rows("tests.record")] == [{"key": "next"}]


async def test_failing_job_is_retried_with_backoff(
    client: httpx.AsyncClient, jobs: None, settings: Settings, database: Database
) -> None:
    key = uuid.uuid4().hex
    job_id = await flaky_task.defer_async(key=key)

    await work(settings, database)  # first attempt fails; the retry waits for its backoff
    (row,) = await job_rows("tests.flaky")
    assert (row["status"], row["attempts"], ATTEMPTS[key]) == ("todo", 1, 1)
    retry_at = row["scheduled_at"]
    assert isinstance(retry_at, datetime)
    assert retry_at > datetime.now(UTC)

    await wait_until(retry_at)
    await work(settings, database)

    (row,) = await job_rows("tests.flaky")
    assert (row["status"], row["attempts"], ATTEMPTS[key]) == ("succeeded", 2, 2)
    kinds = [event["type"] for event in await events(job_id)]
    assert kinds[:2] == ["deferred", "started"]
    assert "deferred_for_retry" in kinds
    assert kinds[-2:] == ["started", "succeeded"]
    starts = [event["at"] for event in await events(job_id) if event["type"] == "started"]
    assert isinstance(starts[0], datetime)
    assert isinstance(starts[1], datetime)
    assert retry_at - starts[0] >= timedelta(seconds=1)  # the retry waited out its backoff
    assert starts[1] >= retry_at


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    strategy = BackoffRetry(max_attempts=10, base_seconds=2, cap_seconds=60)
    for attempts, ceiling in [(0, 4), (1, 8), (2, 16), (3, 32), (7, 60)]:
        delays = [strategy.backoff_seconds(attempts) for _ in range(200)]
        assert max(delays) <= ceiling
        assert min(delays) >= max(2, ceiling / 2)
        assert len(set(delays)) > 1  # jittered


async def test_housekeeping_purges_old_finished_jobs_and_keeps_failed_ones(
    client: httpx.AsyncClient, jobs: None, settings: Settings, database: Database
) -> None:
    old_ok = await record_task.defer_async(key="old")
    await work(settings, database)
    failed = await record_task.defer_async(key="failed")
    recent = await record_task.defer_async(key="recent")
    await work(settings, database)
    await job_app.connector.execute_query_async(
        "UPDATE procrastinate_jobs SET status = 'failed' WHERE id = %(id)s", id=failed
    )
    await job_app.connector.execute_query_async(
        "UPDATE procrastinate_events SET at = at - interval '10 days' WHERE job_id = ANY(%(ids)s)",
        ids=[old_ok, failed],
    )

    # The retention run's class of jobs (7 days), committing as the daily run does (the jobs
    # are committed rows, and this test's queue is emptied afterwards).
    assert settings.job_retention_days == 7
    (jobs_class,) = RETENTION
    cutoff = jobs_class.cutoff(settings, datetime.now(UTC))
    scope, committing = CallScope.system(settings), Database(database.engine)
    assert await apply_class(committing, scope, jobs_class, cutoff, dry_run=True) == 1
    assert {row["id"] for row in await job_rows("tests.record")} == {old_ok, failed, recent}
    assert await apply_class(committing, scope, jobs_class, cutoff, dry_run=False) == 1

    assert {row["id"] for row in await job_rows("tests.record")} == {failed, recent}


# -- workers that die ------------------------------------------------------------------------------

STALLED = 0.5  # seconds without a heartbeat after which a worker is taken for dead, here


async def taken_by_a_worker_that_dies() -> Job:
    """What a worker killed in the middle of a job leaves behind: it registered, took the next
    job of the test queue, and never sent another heartbeat."""
    manager = job_app.job_manager
    job = await manager.fetch_job(queues=[QUEUE], worker_id=await manager.register_worker())
    assert job is not None
    return job


async def notice_dead_workers() -> None:
    """The minutely housekeeping, once the dead worker has been silent long enough."""
    await asyncio.sleep(STALLED + 0.1)
    await retry_stalled_jobs(STALLED)


async def test_a_job_whose_worker_died_runs_again_as_the_same_job(
    client: httpx.AsyncClient, jobs: None, settings: Settings, database: Database
) -> None:
    key = uuid.uuid4().hex
    assert await defer_for_row(keyed_task, key=key)
    lost = await taken_by_a_worker_that_dies()

    await notice_dead_workers()

    (row,) = await job_rows("tests.keyed")
    # Back in the queue with its lock; the lost run counts as an attempt.
    assert (row["id"], row["status"], row["lock"], row["attempts"]) == (
        lost.id, "todo", f"tests:{key}", 1,
    )  # fmt: skip
    assert isinstance(row["scheduled_at"], datetime)
    await wait_until(row["scheduled_at"])  # the task's own backoff
    await work(settings, database)
    assert RAN == [key]
    assert [row["status"] for row in await job_rows("tests.keyed")] == ["succeeded"]
    assert "deferred_for_retry" in [event["type"] for event in await events(lost.id)]


async def test_the_job_waiting_behind_a_dead_workers_job_runs_in_its_place(
    client: httpx.AsyncClient, jobs: None, settings: Settings, database: Database
) -> None:
    key = uuid.uuid4().hex
    await defer_for_row(keyed_task, key=key)
    lost = await taken_by_a_worker_that_dies()
    assert await defer_for_row(keyed_task, key=key)  # as a sweep does: it waits behind the lock
    await work(settings, database)
    assert RAN == []  # nothing of that row can run while the dead worker holds its lock

    await notice_dead_workers()  # the lost job cannot go back: another one already waits
    await work(settings, database)

    assert RAN == [key]
    statuses = {row["id"]: row["status"] for row in await job_rows("tests.keyed")}
    assert statuses.pop(lost.id) == "aborted"
    assert list(statuses.values()) == ["succeeded"]


async def test_a_job_that_kills_its_worker_every_time_stops_when_its_attempts_are_spent(
    client: httpx.AsyncClient, jobs: None
) -> None:
    await defer_for_row(keyed_task, key=uuid.uuid4().hex)  # max_attempts=2
    for attempts in (1, 2):
        await taken_by_a_worker_that_dies()
        await notice_dead_workers()
        (row,) = await job_rows("tests.keyed")
        assert (row["status"], row["attempts"]) == ("todo", attempts)
        assert isinstance(row["scheduled_at"], datetime)
        await wait_until(row["scheduled_at"])
    await taken_by_a_worker_that_dies()
    await notice_dead_workers()
    (row,) = await job_rows("tests.keyed")
    assert (row["status"], row["attempts"]) == ("failed", 3)


async def test_two_runs_of_the_housekeeping_at_once_retry_a_job_once(
    client: httpx.AsyncClient, jobs: None
) -> None:
    await defer_for_row(keyed_task, key=uuid.uuid4().hex)
    await taken_by_a_worker_that_dies()
    await asyncio.sleep(STALLED + 0.1)
    # The second to reach the job finds it no longer ``doing`` and leaves it.
    await asyncio.gather(retry_stalled_jobs(STALLED), retry_stalled_jobs(STALLED))
    (row,) = await job_rows("tests.keyed")
    assert (row["status"], row["attempts"]) == ("todo", 1)


async def test_a_stalled_job_of_a_task_without_retries_fails_as_if_it_had_raised(
    client: httpx.AsyncClient, jobs: None
) -> None:
    await record_task.defer_async(key=uuid.uuid4().hex)
    await taken_by_a_worker_that_dies()
    await notice_dead_workers()
    (row,) = await job_rows("tests.record")
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert RAN == []


async def test_a_live_worker_keeps_its_job_however_long_it_runs(
    client: httpx.AsyncClient, jobs: None, settings: Settings, database: Database
) -> None:
    RELEASE.clear()
    beating = settings.model_copy(
        update={"worker_heartbeat_seconds": 0.1, "worker_stalled_seconds": STALLED}
    )
    key = uuid.uuid4().hex
    await slow_task.defer_async(key=key)
    worker = asyncio.create_task(work(beating, database))
    try:
        while [row["status"] for row in await job_rows("tests.slow")] != ["doing"]:
            await asyncio.sleep(0.05)
        await notice_dead_workers()
        await notice_dead_workers()  # twice the threshold: only its heartbeats keep it alive
        (row,) = await job_rows("tests.slow")
        assert (row["status"], row["attempts"]) == ("doing", 0)
    finally:
        RELEASE.set()
        await worker
    assert RAN == [key]
    assert [row["status"] for row in await job_rows("tests.slow")] == ["succeeded"]
