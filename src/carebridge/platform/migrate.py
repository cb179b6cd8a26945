"""Running Alembic migrations from code: at start-up, from the CLI and in tests."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import await_only

from carebridge.platform.registry import load_models
from carebridge.platform.roles import ApplicationRole, grant_application_privileges

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic is imported where it is used: a warm start whose database is at head never needs it.

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
MIGRATION_LOCK_KEY = 0x43415245_42524447  # "CAREBRDG": the advisory lock taken while migrating

# Tables the job queue owns; its schema ships with procrastinate and is applied by a revision.
_FOREIGN_PREFIXES = ("procrastinate_",)


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    if type_ == "table" and name is not None and name.startswith(_FOREIGN_PREFIXES):
        return False
    table = getattr(obj, "table", None)
    table_name = getattr(table, "name", "") or ""
    return not table_name.startswith(_FOREIGN_PREFIXES)


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


_NUMBERED = re.compile(r"^(\d{4})_\w+\.py$")
_REVISION = re.compile(r'^revision: str = "([^"]+)"$', re.MULTILINE)


@cache
def head_revision() -> str | None:
    """The newest revision. Revisions are numbered files (``0007_notifications.py``) in one
    line, so the head is the revision id in the highest-numbered file; a test checks that this
    agrees with Alembic's own answer (``alembic_head_revision``)."""
    numbered = sorted(
        path for path in (MIGRATIONS_DIR / "versions").iterdir() if _NUMBERED.match(path.name)
    )
    if numbered:
        found = _REVISION.search(numbered[-1].read_text(encoding="utf-8"))
        if found:
            return found.group(1)
    return alembic_head_revision()


def alembic_head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


class MigrationRefused(Exception):
    """A migration found data it must not change without a person's decision; the message says
    what to do. Nothing of that migration was applied."""


async def upgrade(
    engine: AsyncEngine,
    revision: str = "head",
    grant_to: ApplicationRole | None = None,
    *,
    clinic_currency: str | None = None,
) -> str | None:
    """Migrate to ``revision``, then grant the application's role (when it is another role than
    the one migrating) its privileges on what is there now; return the revision the database is
    at afterwards. ``clinic_currency`` (``CAREBRIDGE_CURRENCY``) is what revision
    ``0016_clinic_currency`` keeps doctors' fees in (the setting's default when not given)."""

    from alembic import command
    from alembic.migration import MigrationContext

    def run(connection: Connection) -> str | None:
        config = alembic_config()
        config.attributes["connection"] = connection
        config.attributes["clinic_currency"] = clinic_currency
        command.upgrade(config, revision)
        return MigrationContext.configure(connection).get_current_revision()

    async with _migration_lock(engine), engine.connect() as conn:
        current = await conn.run_sync(run)
        await conn.commit()
        if grant_to is not None:
            await grant_application_privileges(conn, grant_to)
            await conn.commit()
    return current


async def grant(engine: AsyncEngine, role: ApplicationRole) -> None:
    """Grant the application's role its privileges without migrating (the database is at head,
    or is about to be migrated): under the migration lock, since concurrent GRANTs on one
    table fail with "tuple concurrently updated"."""
    async with _migration_lock(engine), engine.connect() as conn:
        await grant_application_privileges(conn, role)
        await conn.commit()


@asynccontextmanager
async def _migration_lock(engine: AsyncEngine) -> AsyncIterator[None]:
    # Several processes may start at once (auto-migrate): a session-level advisory lock, held on
    # its own connection, lets one migrate while the others wait and then find nothing to do.
    async with engine.connect() as lock:
        await lock.execute(select(func.pg_advisory_lock(MIGRATION_LOCK_KEY)))
        await lock.commit()
        try:
            yield
        finally:
            await lock.execute(select(func.pg_advisory_unlock(MIGRATION_LOCK_KEY)))
            await lock.commit()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at (a plain query: readiness probes call this often)."""
    async with engine.connect() as conn:
        if await conn.scalar(text("SELECT to_regclass('alembic_version')")) is None:
            return None
        revision = await conn.scalar(text("SELECT version_num FROM alembic_version"))
    return None if revision is None else str(revision)


async def model_differences(engine: AsyncEngine) -> list[Any]:
    """What autogenerate would write if run now: empty when models and migrations agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    metadata = load_models()

    def compare(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(
            connection,
            opts={
                "include_object": include_object,
                "compare_type": True,
                "compare_server_default": True,
            },
        )
        return list(compare_metadata(context, metadata))

    async with engine.connect() as conn:
        return await conn.run_sync(compare)


async def make_revision(engine: AsyncEngine, message: str) -> None:
    from alembic import command

    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.revision(config, message=message, autogenerate=True)

    async with engine.connect() as conn:
        await conn.run_sync(run)


def execute_script(sql: str) -> None:
    """Run a multi-statement SQL script inside a migration (asyncpg's simple query protocol,
    in the migration's transaction)."""
    from alembic import op

    driver_connection = op.get_bind().connection.driver_connection
    assert driver_connection is not None
    await_only(driver_connection.execute(sql))
