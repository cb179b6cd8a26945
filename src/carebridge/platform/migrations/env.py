"""Alembic environment. CareBridge runs migrations through carebridge.platform.migrate, which
hands a connection in ``config.attributes["connection"]``; plain ``alembic`` also works when
CAREBRIDGE_DATABASE_URL is set."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from carebridge.config import Settings
from carebridge.platform.migrate import include_object
from carebridge.platform.registry import load_models

target_metadata = load_models()


def run_with(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        compare_type=True,
        compare_server_default=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_standalone() -> None:
    engine = create_async_engine(Settings().sqlalchemy_url)
    async with engine.connect() as conn:
        await conn.run_sync(run_with)
        await conn.commit()
    await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported")

connection = context.config.attributes.get("connection")
if connection is not None:
    run_with(connection)
else:
    asyncio.run(run_standalone())
