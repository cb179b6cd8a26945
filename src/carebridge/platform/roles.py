"""The application's database role: what it may do, and what would let it undo the audit trail.

The schema belongs to the role migrations connect as (its owner). The application connects as
another role that owns nothing: it reads and writes rows, but cannot change a table, a trigger
or ``session_replication_role``, so ``audit_events`` stays append-only whatever SQL it sends.
:func:`grant_application_privileges` sets that up after every migration; :func:`audit_guard` says
what a role could do to get around it (``carebridge check``, and the start of ``serve`` and
``worker``).
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from carebridge.config import Settings

log = structlog.get_logger(__name__)

# Rows of these tables are written once: the application may read and add, never change.
APPEND_ONLY_TABLES = ("audit_events", "audit_batches")
# Only migrations write these; the application reads them (readiness compares the revision).
READ_ONLY_TABLES = ("alembic_version",)
AUDIT_TABLE = "audit_events"


@dataclass(frozen=True)
class ApplicationRole:
    """The role the application connects as; the password is used only to create it."""

    name: str
    password: str | None = None

    @classmethod
    def of(cls, settings: Settings) -> ApplicationRole | None:
        """The user of CAREBRIDGE_DATABASE_URL when migrations connect with another URL
        (CAREBRIDGE_MIGRATION_DATABASE_URL); None when both use the same one."""
        if settings.migration_database_url is None:
            return None
        url = settings.sqlalchemy_url
        assert url.username, "Settings requires a user in CAREBRIDGE_DATABASE_URL"
        return cls(url.username, url.password or None)


def _statement(template: str, **parts: sql.Composable) -> str:
    # psycopg quotes identifiers and literals without a connection; the statement is then sent
    # as it is (DDL takes no bind parameters).
    return sql.SQL(template).format(**parts).as_string(None)


async def grant_application_privileges(conn: AsyncConnection, role: ApplicationRole) -> None:
    """Make ``role`` the application's role in this database: create it when it does not exist,
    grant what the application uses on every table, sequence and function of the schema, and
    take back what would let it change the audit trail. Idempotent; run by the schema's owner
    in one transaction, after migrating (so tables added by a migration are covered at once)."""
    me, schema = (await conn.execute(text("SELECT current_user, current_schema()"))).one()
    if me == role.name:
        # Granting to ourselves would only take rights away from the owner (alembic_version).
        log.warning("application_role_is_the_owner", role=role.name)
        return
    if await conn.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role.name}):
        log.debug("application_role_exists", role=role.name)
    else:
        await conn.exec_driver_sql(_create_role(role))
        log.info("application_role_created", role=role.name)
    existing = set(
        await conn.scalars(
            text("SELECT tablename FROM pg_tables WHERE schemaname = :s AND tablename = ANY(:t)"),
            {"s": schema, "t": [*APPEND_ONLY_TABLES, *READ_ONLY_TABLES]},
        )
    )
    for statement in _grants(schema, role.name, existing):
        await conn.exec_driver_sql(statement)


def _create_role(role: ApplicationRole) -> str:
    password = (
        sql.SQL(" PASSWORD {}").format(sql.Literal(role.password))
        if role.password is not None
        else sql.SQL("")
    )
    return _statement(
        "CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
        "NOBYPASSRLS{password}",
        role=sql.Identifier(role.name),
        password=password,
    )


def _grants(schema: str, role: str, existing: set[str]) -> list[str]:
    names = {"schema": sql.Identifier(schema), "role": sql.Identifier(role)}
    statements = [
        _statement("GRANT USAGE ON SCHEMA {schema} TO {role}", **names),
        _statement(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}",
            **names,
        ),
        # Never granted here; taken back in case someone granted ALL by hand. TRIGGER would let
        # it add triggers, TRUNCATE empties a table, REFERENCES lets it block deletes elsewhere.
        _statement(
            "REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA {schema} FROM {role}",
            **names,
        ),
        _statement("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}", **names),
        _statement("GRANT EXECUTE ON ALL ROUTINES IN SCHEMA {schema} TO {role}", **names),
    ]
    for table, rights in [
        *((t, "UPDATE, DELETE") for t in APPEND_ONLY_TABLES),
        *((t, "INSERT, UPDATE, DELETE") for t in READ_ONLY_TABLES),
    ]:
        if table in existing:
            statements.append(
                _statement(
                    f"REVOKE {rights} ON {{schema}}.{{table}} FROM {{role}}",
                    table=sql.Identifier(table),
                    **names,
                )
            )
    return statements


_GUARD_QUERY = """
SELECT r.rolname AS role, r.rolsuper AS superuser, r.rolcreaterole AS createrole,
       c.relowner = r.oid AS owns, pg_get_userbyid(c.relowner) AS owner,
       pg_has_role(r.oid, c.relowner, 'MEMBER') AS owner_member,
       has_table_privilege(r.oid, c.oid, 'UPDATE') AS can_update,
       has_table_privilege(r.oid, c.oid, 'DELETE') AS can_delete,
       has_table_privilege(r.oid, c.oid, 'TRUNCATE') AS can_truncate,
       has_table_privilege(r.oid, c.oid, 'TRIGGER') AS can_trigger,
       n.nspname AS schema, has_schema_privilege(r.oid, n.oid, 'CREATE') AS schema_create,
       current_database() AS database,
       has_database_privilege(r.oid, current_database(), 'CREATE') AS database_create,
       current_setting('server_version_num')::int AS server_version
FROM pg_roles r
LEFT JOIN pg_class c ON c.oid = to_regclass('audit_events')
LEFT JOIN pg_namespace n ON n.oid = COALESCE(c.relnamespace, to_regnamespace(current_schema()))
WHERE r.rolname = COALESCE(CAST(:role AS text), current_user)
"""

# PostgreSQL 15 made SET on superuser-only parameters grantable; before, only superusers can.
_REPLICATION_ROLE_QUERY = """
SELECT has_parameter_privilege(COALESCE(CAST(:role AS text), current_user),
                               'session_replication_role', 'SET')
"""


@dataclass(frozen=True)
class AuditGuard:
    """What a role could do to change or remove audit rows despite the trigger."""

    role: str
    findings: list[str]

    @property
    def holds(self) -> bool:
        return not self.findings

    def describe(self) -> str:
        if self.holds:
            return f"role {self.role} cannot alter {AUDIT_TABLE} or switch off its trigger"
        return f"role {self.role} can switch off the audit trail's guard: " + "; ".join(
            self.findings
        )


async def audit_guard(conn: AsyncConnection, role: str | None = None) -> AuditGuard:
    """Check ``role`` (by default the connected one). Being able to create objects in the
    schema or the database counts: a function placed there can run with the rights of an
    owner's session that calls it by name."""
    row = (await conn.execute(text(_GUARD_QUERY), {"role": role})).mappings().one()
    found: list[str] = []
    if row["superuser"]:
        return AuditGuard(row["role"], ["it is a superuser"])
    if row["owns"]:
        found.append(f"it owns {AUDIT_TABLE}")
    elif row["owner_member"]:
        found.append(f"it is a member of {row['owner']}, the owner of {AUDIT_TABLE}")
    else:
        rights = [
            right
            for right in ("UPDATE", "DELETE", "TRUNCATE", "TRIGGER")
            if row[f"can_{right.lower()}"]
        ]
        if rights:
            found.append(f"it has {', '.join(rights)} on {AUDIT_TABLE}")
    if row["server_version"] >= 150000 and await conn.scalar(
        text(_REPLICATION_ROLE_QUERY), {"role": role}
    ):
        found.append("it may set session_replication_role")
    if row["createrole"]:
        found.append("it may create roles (CREATEROLE)")
    if row["schema_create"]:
        found.append(f"it may create objects in schema {row['schema']}")
    if row["database_create"]:
        found.append(f"it may create schemas in database {row['database']}")
    return AuditGuard(row["role"], found)
