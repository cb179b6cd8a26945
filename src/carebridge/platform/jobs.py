"""Background jobs: one procrastinate app on the application's PostgreSQL.

Domains declare tasks with :data:`job_app` (``@job_app.task(...)``, periodic ones with
``@job_app.periodic(cron=...)``) in their ``tasks.py``, listed in ``registry.TASK_MODULES``.
Tasks open their own database session (never the request's) through :func:`task_database`.
Deferring from a request goes through :func:`defer_after_commit`, so a job never runs for a
change that rolled back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, TypeVar

import procrastinate
import structlog
from procrastinate import JobContext, RetryDecision, RetryStrategy
from procrastinate.app import WorkerOptions
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.jobs import Job
from procrastinate.tasks import Task
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from carebridge.config import Settings
from carebridge.platform.db import Database, after_commit, engine_of
from carebridge.platform.registry import TASK_MODULES
from carebridge.platform.statements import Statement

log = structlog.get_logger(__name__)


class BackoffRetry(RetryStrategy):
    """Exponential backoff with jitter: the n-th retry (``attempts`` = n - 1 failures before
    this one) waits between half and all of ``base * 2**n`` seconds, capped, never less than
    ``base``; randomised so a burst of failures does not retry in lockstep."""

    def __init__(
        self, *, max_attempts: int = 8, base_seconds: float = 2.0, cap_seconds: float = 3600
    ):
        super().__init__(max_attempts=max_attempts)
        self.base_seconds = base_seconds
        self.cap_seconds = cap_seconds

    def backoff_seconds(self, attempts: int) -> float:
        ceiling = min(self.cap_seconds, self.base_seconds * 2 ** (attempts + 1))
        return max(self.base_seconds, random.uniform(ceiling / 2, ceiling))  # noqa: S311 - jitter

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if self.max_attempts and job.attempts >= self.max_attempts:
            return None
        delay = timedelta(seconds=self.backoff_seconds(job.attempts))
        return RetryDecision(retry_at=datetime.now(UTC) + delay)


DEFAULT_RETRY = BackoffRetry()

job_app = procrastinate.App(
    connector=procrastinate.PsycopgConnector(),
    import_paths=list(TASK_MODULES),
)


@dataclass(frozen=True)
class TaskResources:
    """What tasks receive in their context: the settings and a database of their own."""

    settings: Settings
    database: Database


def task_resources(context: JobContext) -> TaskResources:
    resources = context.additional_context.get("resources")
    if not isinstance(resources, TaskResources):
        raise RuntimeError("the worker was started without CareBridge task resources")
    return resources


@dataclass(frozen=True)
class RowLocks:
    """The locks of the jobs of a task keyed by one row, as format strings of the job's
    arguments (``"payment:{payment_id}"``): ``lock`` keeps two jobs of a row from running at
    once, ``queueing_lock`` keeps more than one from waiting."""

    lock: str
    queueing_lock: str


# Task name -> its row locks. tests/test_locked_jobs.py walks these: a worker killed in the
# middle of such a job must not leave the row's lock held for ever.
ROW_LOCKED: dict[str, RowLocks] = {}

AnyTask = Task[Any, Any, Any]
TaskT = TypeVar("TaskT", bound=AnyTask)


def keyed_by_row(*, lock: str, queueing_lock: str) -> Callable[[TaskT], TaskT]:
    """Declare the row locks of a task (stacked above ``@job_app.task``); defer its jobs with
    :func:`defer_for_row`."""

    def declare(task: TaskT) -> TaskT:
        ROW_LOCKED[task.name] = RowLocks(lock=lock, queueing_lock=queueing_lock)
        return task

    return declare


async def defer_for_row(task: AnyTask, **kwargs: str) -> bool:
    """Queue a job of a task declared with :func:`keyed_by_row` unless one is already waiting
    for the same row; returns whether this call queued it."""
    locks = ROW_LOCKED[task.name]
    try:
        await task.configure(
            lock=locks.lock.format(**kwargs), queueing_lock=locks.queueing_lock.format(**kwargs)
        ).defer_async(**kwargs)
    except AlreadyEnqueued:
        return False
    return True


def defer_after_commit(session: AsyncSession, task: Any, **kwargs: Any) -> None:
    """Defer ``task`` with ``kwargs`` once the session's transaction has committed."""
    defer_batch_after_commit(session, task, [kwargs])


# A job to write: queue, task name, priority, lock, queueing lock, JSON arguments, scheduled at.
JobRow = tuple[str, str, int, str | None, str | None, str, datetime | None]


class JobsToDefer(NamedTuple):
    """Jobs to defer, one item of each list per job (the columns of their :data:`JobRow`)."""

    queues: list[str]
    tasks: list[str]
    priorities: list[int]
    locks: list[str | None]
    queueing_locks: list[str | None]
    args: list[str]  # JSON
    scheduled_at: list[datetime | None]

    @classmethod
    def of(cls, rows: list[JobRow]) -> JobsToDefer:
        queues, tasks, priorities, locks, queueing_locks, args, scheduled_at = (
            list(column) for column in zip(*rows, strict=True)
        )
        return cls(queues, tasks, priorities, locks, queueing_locks, args, scheduled_at)


DEFER_JOBS = Statement(
    """
SELECT unnest(procrastinate_defer_jobs_v1(ARRAY(
    SELECT ROW(queue, task, priority, lock, queueing_lock, args,
               scheduled_at)::procrastinate_job_to_defer_v1
    FROM unnest(:queues::varchar[], :tasks::varchar[], :priorities::int[], :locks::text[],
                :queueing_locks::text[], :args::jsonb[], :scheduled_at::timestamptz[])
         AS job(queue, task, priority, lock, queueing_lock, args, scheduled_at)
)))
""",
    JobsToDefer,
)
"""procrastinate's own SQL function for deferring (the one its connector calls), sent on the
application's asyncpg pool: one autocommitted statement for any number of jobs, of any tasks."""


class Deferrals:
    """The jobs that the requests of one engine (in one event loop) defer after their commits,
    written together: a request's jobs go out in one statement with those of every request that
    committed while the previous statement was on its way (a group commit). Under load that is
    one statement and one commit for many requests; alone, a request's jobs go out at once."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.loop = asyncio.get_running_loop()
        self.statements = 0  # written so far (for tests and curiosity)
        self._waiting: list[tuple[list[JobRow], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def defer(self, jobs: list[JobRow]) -> None:
        """Return once ``jobs`` are written (raise if their statement failed)."""
        written: asyncio.Future[None] = self.loop.create_future()
        self._waiting.append((jobs, written))
        if self._writer is None:
            self._writer = self.loop.create_task(self._write())
        await written

    async def _write(self) -> None:
        batch: list[tuple[list[JobRow], asyncio.Future[None]]] = []
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                rows = [row for jobs, _ in batch for row in jobs]
                try:
                    async with self.engine.connect() as connection:
                        raw = await connection.get_raw_connection()
                        assert raw.driver_connection is not None
                        # Outside a transaction: asyncpg commits the statement by itself.
                        await raw.driver_connection.fetch(
                            DEFER_JOBS.sql, *DEFER_JOBS.args(JobsToDefer.of(rows))
                        )
                    self.statements += 1
                except Exception as error:
                    _settle(batch, error)
                else:
                    _settle(batch, None)
                batch = []
        except BaseException as error:  # cancelled with the loop: nobody waits forever
            _settle(batch + self._waiting, error)
            self._waiting = []
            raise
        finally:
            self._writer = None


def _settle(
    batch: list[tuple[list[JobRow], asyncio.Future[None]]], error: BaseException | None
) -> None:
    for _, written in batch:
        if written.done():  # its request was cancelled while waiting
            continue
        if error is None:
            written.set_result(None)
        else:
            written.set_exception(error)


# A task's job fields but the arguments: queue, task name, priority, lock, queueing lock, when.
_JobFields = tuple[str, str, int, str | None, str | None, datetime | None]
_JOBS: dict[str, _JobFields] = {}


def _job_of(task: Any) -> _JobFields:
    """What a job of ``task`` is deferred with, by default (worked out once per task)."""
    found = _JOBS.get(task.name)
    if found is None:
        job = task.configure().job
        found = _JOBS[task.name] = (
            job.queue, job.task_name, job.priority, job.lock, job.queueing_lock, job.scheduled_at
        )  # fmt: skip
    return found


_deferrals: weakref.WeakKeyDictionary[AsyncEngine, Deferrals] = weakref.WeakKeyDictionary()


def deferrals_of(engine: AsyncEngine) -> Deferrals:
    """The :class:`Deferrals` of ``engine`` in the running event loop."""
    deferrals = _deferrals.get(engine)
    if deferrals is None or deferrals.loop is not asyncio.get_running_loop():
        deferrals = _deferrals[engine] = Deferrals(engine)
    return deferrals


async def defer_batch(engine: AsyncEngine, task: Any, batches: list[dict[str, Any]]) -> None:
    """Defer one job of ``task`` per kwargs in ``batches`` now, on the application's own
    connection pool, together with the jobs deferred at the same moment (:class:`Deferrals`;
    procrastinate's connector costs a transaction on its own pool per call, on the hot path of
    every notification)."""
    if not batches:
        return
    queue, name, priority, lock, queueing_lock, scheduled_at = _job_of(task)
    await deferrals_of(engine).defer(
        [
            (queue, name, priority, lock, queueing_lock, json.dumps(kwargs), scheduled_at)
            for kwargs in batches
        ]
    )


def defer_batch_after_commit(
    session: AsyncSession, task: Any, batches: list[dict[str, Any]]
) -> None:
    """:func:`defer_batch` once the session's transaction has committed (never for a rolled-back
    change)."""
    if not batches:
        return
    engine = engine_of(session)

    async def defer() -> None:
        await defer_batch(engine, task, batches)

    defer.__qualname__ = f"defer:{task.name}"
    after_commit(session, defer)


class JobQueue:
    """The connection pool of the job queue, opened for the lifetime of a process."""

    def __init__(self, settings: Settings, *, max_size: int = 10) -> None:
        self.pool = AsyncConnectionPool(
            settings.libpq_url,
            min_size=1,
            max_size=max_size,
            open=False,
            timeout=5,
            kwargs={"application_name": "carebridge-jobs"},
        )

    async def open(self) -> None:
        # wait=False: opening does not block on the database; a process whose database is away
        # keeps serving and /health/ready answers 503 naming the job queue until it is back.
        await self.pool.open(wait=False)
        connector = procrastinate.PsycopgConnector()
        await connector.open_async(self.pool)
        # The same rebinding App.replace_connector does, kept for the life of this queue: every
        # task of the app defers through job_app.job_manager.
        job_app.connector = connector
        job_app.job_manager.connector = connector

    async def close(self) -> None:
        await self.pool.close()

    async def ping(self) -> None:
        async with self.pool.connection(timeout=3.0) as conn:
            row = await (await conn.execute("SELECT to_regclass('procrastinate_jobs')")).fetchone()
        if row is None or row[0] is None:
            raise RuntimeError("the job queue tables are missing (run carebridge migrate)")

    async def counts_by_status(self) -> dict[str, int]:
        async with self.pool.connection(timeout=1) as conn:
            rows = await (
                await conn.execute(
                    "SELECT status::text, count(*) FROM procrastinate_jobs GROUP BY 1"
                )
            ).fetchall()
        return {str(status): int(count) for status, count in rows}


async def run_worker(
    settings: Settings,
    database: Database,
    *,
    concurrency: int | None = None,
    queues: list[str] | None = None,
    wait: bool = True,
    install_signal_handlers: bool = True,
    name: str = "carebridge-worker",
) -> None:
    """Run a worker on an already opened :class:`JobQueue` until stopped."""
    options: WorkerOptions = {
        "concurrency": concurrency or settings.worker_concurrency,
        "wait": wait,
        "name": name,
        "install_signal_handlers": install_signal_handlers,
        "additional_context": {"resources": TaskResources(settings=settings, database=database)},
        "shutdown_graceful_timeout": 20,
        # The worker's row in procrastinate_workers is touched this often; a worker that starts
        # deletes the rows silent longer than the stalled threshold (retry_stalled_jobs then
        # finds their jobs).
        "update_heartbeat_interval": settings.worker_heartbeat_seconds,
        "stalled_worker_timeout": settings.worker_stalled_seconds,
    }
    queues = queues or settings.worker_queues
    if queues:
        options["queues"] = queues
    await job_app.run_worker_async(**options)


IN_PROCESS_WORKER_DELAY_SECONDS = 1.0


@asynccontextmanager
async def in_process_worker(settings: Settings, database: Database) -> AsyncIterator[None]:
    """A worker running inside the web process (development: one command does everything). It
    starts a second after the server: its start (registering and deferring the periodic tasks,
    running the first sweeps) would otherwise hold up the first requests."""

    async def run_soon() -> None:
        await asyncio.sleep(IN_PROCESS_WORKER_DELAY_SECONDS)
        await run_worker(settings, database, install_signal_handlers=False, name="in-process")

    task = asyncio.create_task(run_soon())
    log.info("in_process_worker_started")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
