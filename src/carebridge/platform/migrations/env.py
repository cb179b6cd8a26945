"""Alembic environment. Migrations run through ``carebridge migrate`` (and
``carebridge makemigration``), which hand over a connection in ``config.attributes``."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

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


connection = context.config.attributes.get("connection")
if context.is_offline_mode() or connection is None:
    raise SystemExit("run migrations with `carebridge migrate`")
run_with(connection)
