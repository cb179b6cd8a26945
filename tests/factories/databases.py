"""Databases of a test's own on the test PostgreSQL server, and URLs that connect as the
application's role."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager

import psycopg
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.engine import make_url

from carebridge.platform.db import Database
from carebridge.platform.roles import ApplicationRole


def admin_url(server_url: str) -> str:
    """``server_url`` for psycopg (the server's admin connects with it)."""
    return make_url(server_url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def fresh_database(server_url: str, template: str | None = None) -> Iterator[str]:
    """A new database on the server (empty, or a copy of ``template``), as the server's admin,
    dropped (``WITH (FORCE)``) afterwards."""
    name = f"{template or 'carebridge_test'}_{uuid.uuid4().hex[:10]}"
    admin = admin_url(server_url)
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        create += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(create)
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def as_role(url: str, role: ApplicationRole) -> str:
    """``url`` with ``role``'s name and password."""
    with_role = make_url(url).set(username=role.name, password=role.password)
    return with_role.render_as_string(hide_password=False)


@asynccontextmanager
async def undone(database: Database) -> AsyncIterator[None]:
    """Whatever the requests in the block write is undone after it (a savepoint of the test's
    transaction), so that each request finds the world as it was: a request that cancels an
    appointment must not change what the next one finds."""
    connection = database.sessionmaker.kw["bind"]
    savepoint = await connection.begin_nested()
    try:
        yield
    finally:
        await savepoint.rollback()


async def snapshot(database: Database, naming: Sequence[str] = ()) -> dict[str, str]:
    """A digest of every table's rows (with ``naming``, of the rows whose text holds any of
    these words, such as an owner's ids): any such row added, changed or removed changes it."""
    async with database.transaction() as db:
        tables = (
            await db.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
            )
        ).scalars()
        where = " WHERE r::text LIKE ANY(:patterns)" if naming else ""
        parts = [
            f"SELECT '{name}' AS name, md5(coalesce(string_agg(r::text, '|' ORDER BY r::text), "
            f"'')) AS rows FROM \"{name}\" r{where}"
            for name in sorted(tables)
        ]
        patterns = [f"%{word}%" for word in naming]
        digests = await db.execute(
            text(" UNION ALL ".join(parts)), {"patterns": patterns} if naming else {}
        )
        return {str(name): str(rows) for name, rows in digests}
