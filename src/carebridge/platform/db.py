"""Database access: the async engine, one session per unit of work, and after-commit actions.

A request gets one session (see :func:`carebridge.platform.deps.get_session`): it commits when the
route returns and rolls back on error. Services never commit; they ``flush()`` when they need ids
and register side effects on the :class:`UnitOfWork` so that they run only after a successful
commit (events to publish, jobs to defer) and are dropped on rollback.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import asyncpg
import structlog
from sqlalchemy import event, exc, func, select, text
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from carebridge.config import Settings
from carebridge.platform.errors import CareBridgeError

log = structlog.get_logger(__name__)

AfterCommit = Callable[[], Awaitable[None]]
_UOW_KEY = "carebridge.uow"
# A pooled connection unused for longer than this is pinged before it is handed out.
IDLE_PING_SECONDS = 10.0
_CHECKED_IN_AT = "carebridge.checked_in_at"


class UnitOfWork:
    """Side effects waiting for the transaction they belong to."""

    def __init__(self) -> None:
        self._after_commit: list[AfterCommit] = []

    def after_commit(self, action: AfterCommit) -> None:
        self._after_commit.append(action)

    def discard(self) -> None:
        self._after_commit.clear()

    async def run_after_commit(self) -> None:
        actions, self._after_commit = self._after_commit, []
        for action in actions:
            try:
                await action()
            except Exception:
                # The change is committed; what must not be lost also has a row that a periodic
                # sweep picks up, so a failed action is logged, not raised to the caller.
                log.exception("after_commit_failed", action=getattr(action, "__qualname__", "?"))


async def lock_for_transaction(session: AsyncSession, name: str) -> None:
    """Serialise the transactions that take ``name``: a transaction-level advisory lock on its
    64-bit hash, held until the transaction commits or rolls back (a dead worker's goes with
    its connection)."""
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(name, 0))))


def unit_of_work(session: AsyncSession) -> UnitOfWork:
    """The unit of work of ``session``'s current transaction."""
    uow = session.info.get(_UOW_KEY)
    if uow is None:
        uow = session.info[_UOW_KEY] = UnitOfWork()
    assert isinstance(uow, UnitOfWork)
    return uow


def after_commit(session: AsyncSession, action: AfterCommit) -> None:
    """Run ``action`` once the session's transaction commits; drop it if it rolls back."""
    unit_of_work(session).after_commit(action)


async def undo_unless_kept(session: AsyncSession, error: BaseException) -> None:
    """For handlers that answer an error themselves (a form shown again) instead of raising:
    undo the transaction as a raised error would, unless the error keeps its changes. A failure
    of ours (500, such as stored data that does not open) is nothing a form can fix: it is
    raised on, to the error page and the errors' observers."""
    if isinstance(error, CareBridgeError) and error.status == HTTPStatus.INTERNAL_SERVER_ERROR:
        raise error
    if isinstance(error, CareBridgeError) and error.keep_changes:
        return
    unit_of_work(session).discard()
    await session.rollback()


def ping_when_idle(engine: AsyncEngine, idle_seconds: float) -> None:
    """Ping a pooled connection before use only when it sat idle for ``idle_seconds``: one that
    is in steady use needs no check, one left idle may have been closed by the server (a
    restart, a failover, an idle timeout). A dead one is replaced: the pool retries the checkout
    with a new connection. (SQLAlchemy's ``pool_pre_ping`` checks every checkout, three round
    trips each: BEGIN, a ping, ROLLBACK.)"""

    @event.listens_for(engine.sync_engine, "checkin")
    def _checked_in(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_CHECKED_IN_AT] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: ConnectionPoolEntry, proxy: Any) -> None:
        since = record.info.get(_CHECKED_IN_AT)
        if since is None or time.monotonic() - since < idle_seconds:
            return
        try:
            dbapi_connection.ping()
        except Exception as error:
            raise exc.DisconnectionError(f"idle connection lost: {error}") from error


_DRIVER_KEY = "carebridge.driver_connection"
_ENGINE_KEY = "carebridge.engine"


async def driver_connection(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection under ``session``, inside the session's transaction (begun if it
    was not yet), for hot paths that send hand-written SQL without the ORM's per-statement
    cost. What is written through it is committed or rolled back with the session.

    Found once per transaction: a request's later calls (authentication, the route, its
    notifications) get it from ``session.info`` while the same transaction lasts."""
    transaction = session.sync_session.get_transaction()
    known = session.info.get(_DRIVER_KEY)
    if known is not None and transaction is not None and known[0] is transaction:
        return known[1]  # type: ignore[no-any-return]
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert isinstance(driver, asyncpg.Connection)
    # SQLAlchemy's asyncpg adapter sends BEGIN lazily, with the first statement sent through
    # it, and offers no public call that begins without one. Its own step is awaited here, under
    # its lock, as its cursor does before a first statement: the transaction the session then
    # commits or rolls back, begun with BEGIN alone (a statement sent only to begin cost a
    # round trip on every hot path). Checked by tests/platform/test_db.py.
    adapted = raw.dbapi_connection
    assert adapted is not None
    if not driver.is_in_transaction() and not adapted.autocommit:
        async with adapted._execute_mutex:
            if adapted._transaction is None:
                await adapted._start_transaction()
    session.info[_DRIVER_KEY] = (session.sync_session.get_transaction(), driver)
    return driver


def engine_of(session: AsyncSession) -> AsyncEngine:
    """The engine ``session`` draws its connections from (also when it is bound to one
    connection, as in tests)."""
    engine = session.info.get(_ENGINE_KEY)
    if engine is None:
        bind = session.bind
        engine = session.info[_ENGINE_KEY] = (
            bind.engine if isinstance(bind, AsyncConnection) else bind
        )
    assert isinstance(engine, AsyncEngine)
    return engine


@dataclass(frozen=True)
class DriverTransaction:
    """A transaction on an asyncpg connection, with no ORM session (``Database.driver_tx``):
    ``connection`` runs the hand-written statements, ``after_commit`` queues what runs once the
    transaction committed (dropped if it rolls back), as ``platform.db.after_commit`` does for
    a session."""

    connection: asyncpg.Connection
    after_commit: Callable[[AfterCommit], None]


class Database:
    """An engine and its session factory. Tests bind the factory to one outer transaction."""

    def __init__(self, engine: AsyncEngine, bind: AsyncEngine | AsyncConnection | None = None):
        self.engine = engine
        self.bound = isinstance(bind, AsyncConnection)
        self.sessionmaker = async_sessionmaker(
            bind=bind if bind is not None else engine,
            expire_on_commit=False,
            autoflush=False,
            join_transaction_mode="create_savepoint",
        )

    @classmethod
    def from_settings(cls, settings: Settings, *, migrating: bool = False) -> Database:
        """The application's database; ``migrating``: the same with the schema owner's URL."""
        engine = create_async_engine(
            settings.migration_sqlalchemy_url if migrating else settings.sqlalchemy_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout_seconds,
            connect_args={
                "timeout": 5,
                "server_settings": {
                    "application_name": "carebridge-migrate" if migrating else "carebridge",
                    "statement_timeout": str(settings.db_statement_timeout_ms),
                },
            },
        )
        ping_when_idle(engine, IDLE_PING_SECONDS)
        return cls(engine)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits at the end of the block, then runs the
        after-commit actions; on error it rolls back and drops them."""
        async with self.sessionmaker() as session:
            uow = unit_of_work(session)
            try:
                yield session
                await session.commit()
            except CareBridgeError as error:
                if not error.keep_changes:
                    uow.discard()
                    await session.rollback()
                    raise
                await session.commit()
                await uow.run_after_commit()
                raise
            except BaseException:
                uow.discard()
                await session.rollback()
                raise
            await uow.run_after_commit()

    @asynccontextmanager
    async def driver_tx(self) -> AsyncIterator[DriverTransaction]:
        """A transaction for a hot path whose statements are all hand-written: a pooled
        connection's asyncpg transaction, without an ORM session (a session's transaction
        costs about twice the CPU: docs/performance.md, "Chat"). It commits at the end of the
        block, then runs the after-commit actions; on an error it rolls back and drops them (a
        ``CareBridgeError`` that keeps its changes commits first, as :meth:`transaction`).

        A database bound to a connection (the tests' outer transaction) runs it in a session
        on that connection, so that what the tests wrote is seen."""
        if self.bound:
            async with self.transaction() as session:
                connection = await driver_connection(session)
                yield DriverTransaction(connection, lambda action: after_commit(session, action))
            return
        uow = UnitOfWork()
        pooled = await self.engine.raw_connection()
        driver = pooled.driver_connection
        assert isinstance(driver, asyncpg.Connection)
        try:
            transaction = driver.transaction()
            await transaction.start()
            try:
                yield DriverTransaction(driver, uow.after_commit)
            except CareBridgeError as error:
                if not error.keep_changes:
                    raise
                await transaction.commit()
                await uow.run_after_commit()
                raise
            await transaction.commit()
        except BaseException:
            uow.discard()
            if driver.is_in_transaction():
                await transaction.rollback()
            raise
        finally:
            if driver.is_closed():  # lost meanwhile: not handed out again
                pooled.invalidate()
            pooled.close()
        await uow.run_after_commit()

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
