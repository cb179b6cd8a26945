"""The application's database role cannot undo the audit trail: every way around the
append-only trigger is refused to it by PostgreSQL's privileges, the grants migrations give it
cover tables that arrive later, and ``audit_guard`` names what a role could do if it were
given more."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from carebridge.compliance.models import AuditEvent
from carebridge.compliance.seal_models import AuditBatch
from carebridge.compliance.service import record
from carebridge.config import Settings
from carebridge.platform.db import Database
from carebridge.platform.roles import ApplicationRole, audit_guard, grant_application_privileges

INSUFFICIENT_PRIVILEGE = "42501"

# Each way a role could remove or change audit rows: the statements are sent in order, and one
# of them must be refused for lack of privilege. {owner} is the owner of audit_events,
# {database} the current database.
BYPASSES: dict[str, list[str]] = {
    "disable the trigger": ["ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_change"],
    "disable all triggers": ["ALTER TABLE audit_events DISABLE TRIGGER ALL"],
    "disable user triggers": ["ALTER TABLE audit_events DISABLE TRIGGER USER"],
    "replica mode": ["SET session_replication_role = replica"],
    "replica mode, local": ["SET LOCAL session_replication_role = replica"],
    "replica mode, set_config": ["SELECT set_config('session_replication_role', 'replica', true)"],
    "replica mode for the role": ["ALTER ROLE CURRENT_USER SET session_replication_role = replica"],
    "replica mode for the database": [
        "ALTER DATABASE {database} SET session_replication_role = replica"
    ],
    "delete": ["DELETE FROM audit_events"],
    "update": ["UPDATE audit_events SET outcome = 'success'"],
    "truncate": ["TRUNCATE audit_events"],
    "drop the trigger": ["DROP TRIGGER audit_events_no_change ON audit_events"],
    "rename the trigger": [
        "ALTER TRIGGER audit_events_no_change ON audit_events RENAME TO audit_events_gone"
    ],
    "drop the table": ["DROP TABLE audit_events"],
    "rename the table": ["ALTER TABLE audit_events RENAME TO audit_events_old"],
    "take the table": ["ALTER TABLE audit_events OWNER TO CURRENT_USER"],
    "replace the trigger's function": [
        "CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$"
    ],
    "drop the trigger's function": ["DROP FUNCTION audit_events_append_only() CASCADE"],
    "take the trigger's function": [
        "ALTER FUNCTION audit_events_append_only() OWNER TO CURRENT_USER"
    ],
    "add a trigger": [
        "CREATE TRIGGER audit_events_quiet BEFORE DELETE ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()"
    ],
    "add a rule": [
        "CREATE RULE audit_events_quiet AS ON DELETE TO audit_events DO INSTEAD NOTHING"
    ],
    "row level security": ["ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY"],
    "edit the catalog": [
        "UPDATE pg_trigger SET tgenabled = 'D' WHERE tgrelid = 'audit_events'::regclass"
    ],
    # GRANT without the grant option only warns; the DELETE after it shows nothing was granted.
    "grant itself DELETE": [
        "GRANT DELETE ON audit_events TO CURRENT_USER",
        "DELETE FROM audit_events",
    ],
    "default privileges of the owner": [
        "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} GRANT DELETE ON TABLES TO CURRENT_USER"
    ],
    "become the owner": ["SET ROLE {owner}"],
    "become the owner's session": ["SET SESSION AUTHORIZATION {owner}"],
    "join the owner": ["GRANT {owner} TO CURRENT_USER"],
    "take the owner's objects": ["REASSIGN OWNED BY {owner} TO CURRENT_USER"],
    "become superuser": ["ALTER ROLE CURRENT_USER SUPERUSER"],
    "create roles": ["ALTER ROLE CURRENT_USER CREATEROLE"],
    # Objects the owner's session could pick up by name (search path, overloads) and run with
    # the owner's rights: a schema named after the owner, a function or table in public.
    "a schema in the owner's search path": ["CREATE SCHEMA {owner}"],
    "a function in public": [
        "CREATE FUNCTION public.lower(varchar) RETURNS text LANGUAGE sql AS $$ SELECT '' $$"
    ],
    "a table in public": ["CREATE TABLE public.audit_shadow (id int)"],
}


@pytest.fixture
async def audit_row(database: Database) -> AuditEvent:
    async with database.transaction() as db:
        return await record(db, action="probe.guard", resource_type="probe")


@pytest.mark.parametrize("statements", BYPASSES.values(), ids=BYPASSES.keys())
async def test_the_application_cannot_get_around_the_audit_trigger(
    database: Database, audit_row: AuditEvent, statements: list[str]
) -> None:
    async with database.sessionmaker() as db:
        with pytest.raises(DBAPIError) as refused:
            await run_in_order(db, statements)
        await db.rollback()
    error = refused.value.orig
    assert getattr(error, "sqlstate", None) == INSUFFICIENT_PRIVILEGE, error
    # Refused by privileges, before the trigger (the owner's last line) is even reached.
    assert "append-only" not in str(error)
    async with database.sessionmaker() as db:
        kept = select(func.count()).select_from(AuditEvent).where(AuditEvent.id == audit_row.id)
        assert await db.scalar(kept) == 1
        enabled = "SELECT tgenabled::text FROM pg_trigger WHERE tgrelid = 'audit_events'::regclass"
        assert set((await db.execute(text(enabled))).scalars()) == {"O"}


# The seal's batches are append-only too: the same ways, on audit_batches.
BATCH_BYPASSES: dict[str, str] = {
    "delete": "DELETE FROM audit_batches",
    "update": "UPDATE audit_batches SET kid = 'forged'",
    "truncate": "TRUNCATE audit_batches",
    "disable the trigger": "ALTER TABLE audit_batches DISABLE TRIGGER audit_batches_no_change",
    "drop the trigger": "DROP TRIGGER audit_batches_no_change ON audit_batches",
    "replace the trigger's function": (
        "CREATE OR REPLACE FUNCTION audit_batches_append_only() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$"
    ),
    "drop the table": "DROP TABLE audit_batches",
}


def a_batch() -> AuditBatch:
    """A batch row of placeholders, numbered far past any the seal may have written in this
    session's database (the test rolls it back)."""
    return AuditBatch(
        number=10**12 + secrets.randbelow(10**6),
        first_xact=1,
        first_seq=1,
        last_xact=1,
        last_seq=1,
        event_count=1,
        leaves=bytes(40),
        root=bytes(32),
        prev_hash=bytes(32),
        hash=secrets.token_bytes(32),
        kid="probe",
        signature=bytes(64),
        sealed_at=datetime.now(UTC),
    )


@pytest.mark.parametrize("statement", BATCH_BYPASSES.values(), ids=BATCH_BYPASSES.keys())
async def test_the_application_cannot_change_or_remove_a_sealed_batch(
    database: Database, statement: str
) -> None:
    async with database.transaction() as db:
        db.add(a_batch())  # adding is what the sealer does
    async with database.sessionmaker() as db:
        with pytest.raises(DBAPIError) as refused:
            await db.execute(text(statement))
        await db.rollback()
    error = refused.value.orig
    assert getattr(error, "sqlstate", None) == INSUFFICIENT_PRIVILEGE, error
    assert "append-only" not in str(error)
    async with database.sessionmaker() as db:
        assert await db.scalar(select(AuditBatch.kid)) == "probe"


async def test_the_batches_trigger_refuses_even_the_owner(owner_engine: AsyncEngine) -> None:
    async with owner_engine.connect() as conn:
        await conn.execute(insert(AuditBatch).values(**_columns(a_batch())))
        for statement in ("DELETE FROM audit_batches", "UPDATE audit_batches SET kid = 'x'"):
            with pytest.raises(DBAPIError, match="audit_batches is append-only"):
                async with conn.begin_nested():
                    await conn.execute(text(statement))
        await conn.rollback()


def _columns(batch: AuditBatch) -> dict[str, object]:
    return {column.key: getattr(batch, column.key) for column in AuditBatch.__table__.columns}


async def run_in_order(db: AsyncSession, statements: list[str]) -> None:
    owner, database = (await db.execute(text(NAMES))).one()
    for statement in statements:
        await db.execute(text(statement.format(owner=f'"{owner}"', database=f'"{database}"')))


NAMES = (
    "SELECT pg_get_userbyid(relowner), current_database() FROM pg_class "
    "WHERE oid = 'audit_events'::regclass"
)


async def test_the_application_role_holds_the_guard_and_the_owner_does_not(
    database: Database, owner_engine: AsyncEngine, settings: Settings
) -> None:
    role = ApplicationRole.of(settings)
    assert role is not None
    async with database.sessionmaker() as db:
        guard = await audit_guard(await db.connection())
    assert (guard.role, guard.findings, guard.holds) == (role.name, [], True)
    async with owner_engine.connect() as conn:
        owner = await audit_guard(conn)
    # The test server's owner is its superuser, which says it all.
    assert owner.findings == ["it is a superuser"]
    assert "can switch off the audit trail's guard: it is a superuser" in owner.describe()


@pytest.fixture
async def probe_role(owner_engine: AsyncEngine) -> AsyncIterator[tuple[AsyncConnection, str]]:
    """A role made in the owner's transaction, gone with its rollback (roles are cluster-wide,
    and so is a rolled-back CREATE ROLE: nobody else ever sees it)."""
    async with owner_engine.connect() as conn:
        name = "carebridge_probe_" + str(await conn.scalar(text("SELECT txid_current()")))
        await conn.execute(text(f'CREATE ROLE "{name}" LOGIN'))
        yield conn, name
        await conn.rollback()


GIVEN: dict[str, tuple[str, str]] = {
    "delete and truncate": (
        "GRANT DELETE, TRUNCATE ON audit_events TO {role}",
        "it has DELETE, TRUNCATE on audit_events",
    ),
    "update": ("GRANT UPDATE ON audit_events TO {role}", "it has UPDATE on audit_events"),
    "trigger": ("GRANT TRIGGER ON audit_events TO {role}", "it has TRIGGER on audit_events"),
    "ownership": ("ALTER TABLE audit_events OWNER TO {role}", "it owns audit_events"),
    "membership of the owner": (
        "GRANT {owner} TO {role}",
        "it is a member of {owner}, the owner of audit_events",
    ),
    "superuser": ("ALTER ROLE {role} SUPERUSER", "it is a superuser"),
    "createrole": ("ALTER ROLE {role} CREATEROLE", "it may create roles (CREATEROLE)"),
    "replica mode": (
        "GRANT SET ON PARAMETER session_replication_role TO {role}",
        "it may set session_replication_role",
    ),
    "create in the schema": (
        "GRANT CREATE ON SCHEMA public TO {role}",
        "it may create objects in schema public",
    ),
    "create in the database": (
        'GRANT CREATE ON DATABASE "{database}" TO {role}',
        "it may create schemas in database {database}",
    ),
}


@pytest.mark.parametrize(("grant", "finding"), GIVEN.values(), ids=GIVEN.keys())
async def test_the_guard_names_what_a_role_was_given(
    probe_role: tuple[AsyncConnection, str], grant: str, finding: str
) -> None:
    conn, role = probe_role
    assert (await audit_guard(conn, role)).findings == []  # a role with nothing granted
    owner, database = (await conn.execute(text(NAMES))).one()
    await conn.execute(text(grant.format(role=f'"{role}"', owner=f'"{owner}"', database=database)))
    guard = await audit_guard(conn, role)
    # The first finding is the one given; a member of the owner also has what the owner has.
    assert guard.findings[0] == finding.format(owner=owner, database=database)
    assert len(guard.findings) == 1 or grant.startswith("GRANT {owner}")


async def test_the_grants_cover_a_table_added_later_and_keep_the_audit_trail_append_only(
    owner_engine: AsyncEngine, settings: Settings
) -> None:
    role = ApplicationRole.of(settings)
    assert role is not None
    async with owner_engine.connect() as conn:
        await conn.execute(text("CREATE TABLE later_probe (id bigserial PRIMARY KEY)"))
        await grant_application_privileges(conn, role)
        await grant_application_privileges(conn, role)  # idempotent

        async def may(table: str, privilege: str) -> bool:
            check = "SELECT has_table_privilege(:role, :table, :privilege)"
            values = {"role": role.name, "table": table, "privilege": privilege}
            return bool(await conn.scalar(text(check), values))

        for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE"):
            assert await may("later_probe", privilege)
        for privilege in ("TRUNCATE", "TRIGGER", "REFERENCES"):
            assert not await may("later_probe", privilege)
        sequence = "SELECT has_sequence_privilege(:role, 'later_probe_id_seq', 'USAGE')"
        assert await conn.scalar(text(sequence), {"role": role.name})
        for table in ("audit_events", "audit_batches"):
            assert [await may(table, p) for p in ("SELECT", "INSERT")] == [True, True]
            assert not any([await may(table, p) for p in ("UPDATE", "DELETE", "TRUNCATE")])
        assert await may("alembic_version", "SELECT")
        assert not any([await may("alembic_version", p) for p in ("INSERT", "UPDATE", "DELETE")])
        await conn.rollback()
