"""The request's transaction and its after-commit actions."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, text

from carebridge.app import create_app
from carebridge.config import Settings
from carebridge.platform.access import PUBLIC
from carebridge.platform.db import Database, after_commit, driver_connection, ping_when_idle
from carebridge.platform.deps import Session
from carebridge.platform.errors import Conflict

ACTIONS: list[str] = []


@pytest.fixture
async def notes(database: Database) -> None:
    """A scratch table inside the test's outer transaction (gone after the test); temporary,
    since the application's role may not create tables."""
    async with database.sessionmaker() as session:
        await session.execute(text("CREATE TEMPORARY TABLE probe_notes (body text NOT NULL)"))
        await session.commit()
    ACTIONS.clear()


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    async def record(body: str) -> None:
        ACTIONS.append(body)

    @app.post("/api/v1/probe/notes", dependencies=[PUBLIC], status_code=201)
    async def write_note(body: str, session: Session, fail: bool = False) -> dict[str, str]:
        await session.execute(text("INSERT INTO probe_notes VALUES (:b)"), {"b": body})
        after_commit(session, lambda: record(body))
        if fail:
            raise Conflict("refused after writing", code="probe_refused")
        return {"body": body}

    return app


async def count_notes(database: Database) -> int:
    async with database.sessionmaker() as session:
        return int((await session.execute(text("SELECT count(*) FROM probe_notes"))).scalar_one())


async def test_after_commit_action_runs_once_after_commit(
    client: httpx.AsyncClient, database: Database, notes: None
) -> None:
    response = await client.post("/api/v1/probe/notes", params={"body": "hello"})
    assert response.status_code == 201
    assert ACTIONS == ["hello"]
    assert await count_notes(database) == 1


async def test_after_commit_action_is_dropped_when_the_route_fails(
    client: httpx.AsyncClient, database: Database, notes: None
) -> None:
    response = await client.post("/api/v1/probe/notes", params={"body": "nope", "fail": "true"})
    assert response.status_code == 409
    assert ACTIONS == []
    assert await count_notes(database) == 0


async def test_transaction_block_commits_then_runs_actions(database: Database, notes: None) -> None:
    seen_rows: list[int] = []

    async def check_committed() -> None:
        seen_rows.append(await count_notes(database))

    async with database.transaction() as session:
        await session.execute(text("INSERT INTO probe_notes VALUES ('a')"))
        after_commit(session, check_committed)
        assert seen_rows == []
    assert seen_rows == [1]

    async def write_then_fail() -> None:
        async with database.transaction() as session:
            await session.execute(text("INSERT INTO probe_notes VALUES ('b')"))
            after_commit(session, check_committed)
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        await write_then_fail()
    assert seen_rows == [1]
    assert await count_notes(database) == 1


async def test_a_failing_action_does_not_undo_the_commit_or_skip_others(
    database: Database, notes: None
) -> None:
    ran: list[str] = []

    async def broken() -> None:
        raise RuntimeError("publisher down")

    async def fine() -> None:
        ran.append("fine")

    async with database.transaction() as session:
        await session.execute(text("INSERT INTO probe_notes VALUES ('kept')"))
        after_commit(session, broken)
        after_commit(session, fine)
    assert ran == ["fine"]
    assert await count_notes(database) == 1


async def _backend_pid(database: Database) -> int:
    async with database.transaction() as session:
        return int((await session.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def test_the_driver_connection_is_found_once_per_transaction(settings: Settings) -> None:
    """Later calls in one transaction reuse the connection found first; after a commit or a
    rollback the next call begins the session's new transaction."""
    database = Database.from_settings(settings)
    try:
        async with database.sessionmaker() as session:
            first = await driver_connection(session)
            assert await driver_connection(session) is first
            assert first.is_in_transaction()
            began = await first.fetchval("SELECT pg_current_xact_id()")
            await session.commit()
            after_commit = await driver_connection(session)
            assert after_commit.is_in_transaction()
            assert await after_commit.fetchval("SELECT pg_current_xact_id()") != began
            await session.rollback()
            after_rollback = await driver_connection(session)
            assert after_rollback.is_in_transaction()
    finally:
        await database.dispose()


async def test_the_driver_connection_begins_with_begin_alone_and_the_session_ends_it(
    settings: Settings,
) -> None:
    """The transaction begun for the driver connection is the session's: what is written through
    it is kept by the session's commit and undone by its rollback; beginning it sends no
    statement through SQLAlchemy (asyncpg's BEGIN alone)."""
    database = Database.from_settings(settings)
    through_sqlalchemy: list[str] = []

    @event.listens_for(database.engine.sync_engine, "before_cursor_execute")
    def _sent(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        through_sqlalchemy.append(statement)

    try:
        async with database.sessionmaker() as session:
            await session.execute(text("CREATE TEMPORARY TABLE probe_rows (n int)"))
            await session.commit()
            through_sqlalchemy.clear()
            for n, keep in ((1, True), (2, False)):
                connection = await driver_connection(session)
                await connection.execute("INSERT INTO probe_rows VALUES ($1)", n)
                await (session.commit() if keep else session.rollback())
            assert through_sqlalchemy == []
            kept = (await session.execute(text("SELECT array_agg(n) FROM probe_rows"))).scalar_one()
        assert kept == [1]
    finally:
        await database.dispose()


async def test_a_driver_transaction_commits_then_acts_and_rolls_back_on_an_error(
    settings: Settings,
) -> None:
    """``Database.driver_tx`` (no ORM session): the block's writes are committed and its
    after-commit actions run after; an error rolls them back and drops the actions; an error
    that keeps its changes commits them, runs the actions and is raised."""
    # One connection (the temporary table lives on it; the application's role creates no table).
    one = settings.model_copy(update={"db_pool_size": 1, "db_max_overflow": 0})
    database = Database.from_settings(one)
    done: list[str] = []

    async def did(name: str) -> None:
        done.append(name)

    try:
        async with database.transaction() as session:
            await session.execute(text("CREATE TEMPORARY TABLE probe_driver (n int)"))
        async with database.driver_tx() as tx:
            await tx.connection.execute("INSERT INTO probe_driver VALUES (1)")
            tx.after_commit(lambda: did("first"))
            assert done == []  # not before the commit

        async def write_then(n: int, error: Exception) -> None:
            async with database.driver_tx() as tx:
                await tx.connection.execute("INSERT INTO probe_driver VALUES ($1)", n)
                tx.after_commit(lambda: did(f"after {n}"))
                raise error

        with pytest.raises(RuntimeError):
            await write_then(2, RuntimeError("refused"))
        with pytest.raises(Conflict):
            await write_then(3, Conflict("kept", code="probe_kept", keep_changes=True))
        async with database.driver_tx() as tx:  # the one pooled connection is back, reusable
            rows = await tx.connection.fetchval("SELECT array_agg(n ORDER BY n) FROM probe_driver")
            await tx.connection.execute("DROP TABLE probe_driver")
        assert rows == [1, 3]
        assert done == ["first", "after 3"]
    finally:
        await database.dispose()


async def test_an_idle_connection_the_server_closed_is_replaced_without_an_error(
    settings: Settings,
) -> None:
    """The pool pings a connection only after it sat idle: one the server ended meanwhile (a
    restart, a failover) is swapped for a new one, and the request does not notice."""
    database = Database.from_settings(settings.model_copy(update={"db_pool_size": 1}))
    ping_when_idle(database.engine, 0.0)  # for this test: every checkout counts as idle
    try:
        first = await _backend_pid(database)
        admin = await asyncpg.connect(settings.libpq_url)  # outside the pool
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", first)
        finally:
            await admin.close()
        second = await _backend_pid(database)
        assert second != first
    finally:
        await database.dispose()


async def test_a_busy_connection_is_not_pinged(settings: Settings) -> None:
    database = Database.from_settings(settings)
    statements: list[str] = []

    @event.listens_for(database.engine.sync_engine, "before_cursor_execute")
    def _seen(*args: object) -> None:
        statements.append(str(args[2]))

    try:
        await _backend_pid(database)
        await _backend_pid(database)
        # No pre-ping round trips: only the two statements sent by the code.
        assert statements == ["SELECT pg_backend_pid()"] * 2
    finally:
        await database.dispose()


async def test_an_exhausted_pool_answers_503_busy_not_an_internal_error(
    settings: Settings,
) -> None:
    """Every pooled connection busy for the pool timeout (overload): 503 `busy`, retry later."""
    small = settings.model_copy(
        update={"db_pool_size": 1, "db_max_overflow": 0, "db_pool_timeout_seconds": 0.2}
    )
    database = Database.from_settings(small)
    app = create_app(small, database=database)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://testserver"
            ) as client,
            database.engine.connect() as held,  # the only connection, kept busy
        ):
            await held.execute(text("SELECT 1"))
            answer = await client.get(f"/api/v1/doctors/{uuid.uuid4()}/reviews")
        assert answer.status_code == 503, answer.text
        assert answer.json()["code"] == "busy"
        assert answer.headers["Retry-After"] == "1"
    finally:
        await database.dispose()
