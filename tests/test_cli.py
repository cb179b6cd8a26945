"""The carebridge command as people run it: real processes, real databases."""

from __future__ import annotations

import asyncio
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from carebridge.platform.embedded import EmbeddedPostgres
from carebridge.platform.migrate import head_revision, upgrade
from carebridge.platform.roles import ApplicationRole
from tests.factories.databases import as_role
from tests.factories.settings import ROOT, TEST_SECRET
from tests.helpers import carebridge, clean_env, free_port, running_server


def postgres_gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE  # exited, not yet reaped
    except psutil.NoSuchProcess:
        return True


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A data dir for an embedded PostgreSQL, outside pytest's temporary root: as root, the
    server runs as another user and needs every parent directory open to it, and each pytest
    session starting on this machine closes that root again (mode 0700)."""
    (ROOT / "var" / "test").mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="cli-", dir=ROOT / "var" / "test"))
    yield path / "var"
    shutil.rmtree(path, ignore_errors=True)


def test_serve_without_database_url_runs_on_embedded_postgres(data_dir: Path) -> None:
    """The fresh-machine path: no database configured, one command, then Ctrl-C stops it all."""
    env = clean_env(CAREBRIDGE_DATA_DIR=str(data_dir), CAREBRIDGE_ENVIRONMENT="development")
    log = data_dir.parent / "serve.log"
    with running_server(env, log) as (base_url, process):
        ready = httpx.get(f"{base_url}/health/ready").json()
        assert ready["status"] == "ok"
        assert ready["checks"]["migrations"]["status"] == "ok"
        assert httpx.get(f"{base_url}/api/docs").status_code == 200
        assert "carebridge_http_requests_total" in httpx.get(f"{base_url}/metrics").text
        pgdata = data_dir / "postgres"
        postgres_pid = int((pgdata / "postmaster.pid").read_text().split()[0])
        assert not postgres_gone(postgres_pid)
        # A second command joins the running server; the application's role is its own.
        checked = carebridge("check", env=env)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "audit_guard: ok (role carebridge_app cannot alter audit_events" in checked.stdout
        assert "all good" in checked.stdout
    assert process.returncode is not None
    assert postgres_gone(postgres_pid), "the embedded PostgreSQL outlived the server"
    assert not (pgdata / "postmaster.pid").exists()
    output = log.read_text()
    assert "initialised=True" in output
    assert "Traceback" not in output

    # The second start reuses the data dir: no initdb, same database.
    with running_server(env, log):
        pass
    assert log.read_text().count("initialised=False") == 1


def test_production_with_development_secrets_refuses_to_start(tmp_path: Path) -> None:
    env = clean_env(
        CAREBRIDGE_ENVIRONMENT="production",
        CAREBRIDGE_DATA_DIR=str(tmp_path),
        CAREBRIDGE_SECRET_KEY="changeme",
        CAREBRIDGE_DATABASE_URL="postgresql://carebridge@127.0.0.1:9/carebridge",
        CAREBRIDGE_PUBLIC_BASE_URL="https://care.example.org",
    )
    result = carebridge("serve", "--port", str(free_port()), env=env)
    assert result.returncode == 1
    assert "refusing to start" in result.stderr
    assert "CAREBRIDGE_SECRET_KEY is a development value" in result.stderr
    assert "CAREBRIDGE_ENCRYPTION_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_on_a_busy_port_says_so(tmp_path: Path, database_url: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = clean_env(CAREBRIDGE_DATA_DIR=str(tmp_path), CAREBRIDGE_DATABASE_URL=database_url)
        result = carebridge("serve", "--port", str(port), env=env)
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [["migrate"], ["worker"], ["seed", "--demo"]])
def test_unreachable_database_is_a_clear_message(tmp_path: Path, command: list[str]) -> None:
    env = clean_env(
        CAREBRIDGE_DATA_DIR=str(tmp_path),
        CAREBRIDGE_DATABASE_URL="postgresql://postgres@127.0.0.1:9/carebridge",
    )
    result = carebridge(*command, env=env)
    assert result.returncode == 1
    assert "database unreachable" in result.stderr
    assert "Traceback" not in result.stderr


def test_migrate_check_and_seed_against_a_database(
    tmp_path: Path, fresh_url: str, fresh_owner_url: str
) -> None:
    """On a database of its own: the demo it seeds is sealed with this data dir's keys, which
    the other tests' keyring cannot open (their lists of every visit or message would meet it)."""
    env = clean_env(
        CAREBRIDGE_DATA_DIR=str(tmp_path),
        CAREBRIDGE_DATABASE_URL=fresh_url,
        CAREBRIDGE_MIGRATION_DATABASE_URL=fresh_owner_url,
    )
    migrated = carebridge("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    assert f"database is at revision {head_revision()}" in migrated.stdout

    del env["CAREBRIDGE_MIGRATION_DATABASE_URL"]  # as the application's processes run
    checked = carebridge("check", env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "database: ok" in checked.stdout
    assert "migrations: ok" in checked.stdout
    assert "audit_guard: ok" in checked.stdout
    assert "all good" in checked.stdout

    seeded = carebridge("seed", "--demo", env=env)
    assert seeded.returncode == 0, seeded.stderr
    assert "demo data: accounts: 5 created" in seeded.stdout
    again = carebridge("seed", "--demo", env=env)
    assert "demo data: accounts: 0 created" in again.stdout  # idempotent
    production = carebridge(
        "seed",
        "--demo",
        env={
            **env,
            "CAREBRIDGE_ENVIRONMENT": "production",
            "CAREBRIDGE_SECRET_KEY": "s" * 40,
            "CAREBRIDGE_ENCRYPTION_KEY": "e" * 40,
            "CAREBRIDGE_PUBLIC_BASE_URL": "https://care.example.org",
        },
    )
    assert production.returncode == 1
    assert "never for production" in production.stderr


def test_check_reports_configuration_problems(tmp_path: Path, database_url: str) -> None:
    env = clean_env(
        CAREBRIDGE_ENVIRONMENT="production",
        CAREBRIDGE_DATA_DIR=str(tmp_path),
        CAREBRIDGE_DATABASE_URL=database_url,
    )
    result = carebridge("check", env=env)
    assert result.returncode == 1
    assert "config: CAREBRIDGE_SECRET_KEY is not set" in result.stdout
    assert "database: ok" in result.stdout


@pytest.mark.usefixtures("owner_engine")  # migrated: the application may not
def test_check_says_when_the_public_url_is_not_where_serve_listens(
    tmp_path: Path, database_url: str
) -> None:
    env = clean_env(
        CAREBRIDGE_ENVIRONMENT="test",
        CAREBRIDGE_DATA_DIR=str(tmp_path),
        CAREBRIDGE_DATABASE_URL=database_url,
        CAREBRIDGE_PORT="8010",  # the public URL stays http://localhost:8000
    )
    elsewhere = carebridge("check", env=env)
    assert elsewhere.returncode == 0, elsewhere.stdout + elsewhere.stderr
    assert "public_url: warning (CAREBRIDGE_PUBLIC_BASE_URL is http://localhost:8000" in (
        elsewhere.stdout
    )
    assert "all good, but for the warning above" in elsewhere.stdout
    here = carebridge("check", env={**env, "CAREBRIDGE_PORT": "8000"})
    assert "public_url: ok (http://localhost:8000)" in here.stdout
    development = carebridge("check", env={**env, "CAREBRIDGE_ENVIRONMENT": "development"})
    assert "public_url: ok (" in development.stdout
    assert "in development a page of the served address may open the live stream" in (
        development.stdout
    )


def test_invalid_setting_is_a_clear_message(tmp_path: Path) -> None:
    env = clean_env(CAREBRIDGE_DATA_DIR=str(tmp_path), CAREBRIDGE_PORT="not-a-port")
    result = carebridge("migrate", env=env)
    assert result.returncode == 1
    assert "invalid configuration" in result.stderr
    assert "port" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_in_production_without_a_database_does_not_start_one(tmp_path: Path) -> None:
    env = clean_env(CAREBRIDGE_ENVIRONMENT="production", CAREBRIDGE_DATA_DIR=str(tmp_path))
    result = carebridge("check", env=env)
    assert result.returncode == 1
    assert "CAREBRIDGE_DATABASE_URL is not set" in result.stdout
    assert "connectivity: not checked" in result.stdout
    assert not (tmp_path / "postgres").exists()


def test_non_postgres_database_url_is_a_clear_message(tmp_path: Path) -> None:
    env = clean_env(CAREBRIDGE_DATA_DIR=str(tmp_path), CAREBRIDGE_DATABASE_URL="mysql://x@h/d")
    result = carebridge("migrate", env=env)
    assert result.returncode == 1
    assert "must be a postgresql:// URL" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.usefixtures("owner_engine")  # migrated: the application may not
def test_create_admin_and_rotate_keys(tmp_path: Path, database_url: str) -> None:
    env = clean_env(
        CAREBRIDGE_DATA_DIR=str(tmp_path),
        CAREBRIDGE_DATABASE_URL=database_url,
        CAREBRIDGE_ADMIN_PASSWORD="violet-harbor-sextant-91",
        # The session's database is shared: the signing key this test rotates in must be sealed
        # with the key the other tests read it with.
        CAREBRIDGE_ENCRYPTION_KEY=TEST_SECRET,
        CAREBRIDGE_SECRET_KEY=TEST_SECRET,
    )
    email = f"root-{uuid.uuid4().hex[:6]}@clinic.example"
    created = carebridge("users", "create-admin", "--email", email, "--name", "Root Admin", env=env)
    assert created.returncode == 0, created.stderr
    assert f"admin {email} created" in created.stdout
    again = carebridge("users", "create-admin", "--email", email.upper(), "--name", "Dup", env=env)
    assert again.returncode == 1
    assert "already exists" in again.stderr
    weak = carebridge(
        "users",
        "create-admin",
        "--email",
        "weak@clinic.example",
        "--name",
        "W",
        env={**env, "CAREBRIDGE_ADMIN_PASSWORD": "password"},
    )
    assert weak.returncode == 1
    assert "common password" in weak.stderr
    rotated = carebridge("keys", "rotate", env=env)
    assert rotated.returncode == 0, rotated.stderr
    assert "new signing key" in rotated.stdout


@pytest.mark.usefixtures("owner_engine")  # migrated: the application may not
def test_check_warns_when_the_application_could_switch_off_the_audit_guard(
    tmp_path: Path, database_url: str, owner_database_url: str
) -> None:
    quiet = carebridge(
        "check",
        env=clean_env(CAREBRIDGE_DATA_DIR=str(tmp_path), CAREBRIDGE_DATABASE_URL=database_url),
    )
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    assert "audit_guard: ok" in quiet.stdout
    assert "warning" not in quiet.stdout

    # Connected as the database's owner (here the server's superuser), as before two roles.
    as_owner = clean_env(
        CAREBRIDGE_DATA_DIR=str(tmp_path), CAREBRIDGE_DATABASE_URL=owner_database_url
    )
    warned = carebridge("check", env=as_owner)
    assert warned.returncode == 0, warned.stdout + warned.stderr
    assert (
        "audit_guard: warning (role postgres can switch off the audit trail's guard: "
        "it is a superuser; run the application as a role that owns nothing" in warned.stdout
    )
    assert "all good, but for the warning above" in warned.stdout

    production = {
        **as_owner,
        "CAREBRIDGE_ENVIRONMENT": "production",
        "CAREBRIDGE_SECRET_KEY": "s" * 40,
        "CAREBRIDGE_ENCRYPTION_KEY": "e" * 40,
        "CAREBRIDGE_PUBLIC_BASE_URL": "https://care.example.org",
    }
    failed = carebridge("check", env=production)
    assert failed.returncode == 1
    assert "audit_guard: fail (role postgres can switch off" in failed.stdout
    refused = carebridge("serve", "--port", str(free_port()), env=production)
    assert refused.returncode == 1
    assert (
        "refusing to start: role postgres can switch off the audit trail's guard" in refused.stderr
    )
    assert "Traceback" not in refused.stderr


def test_migrate_creates_the_application_role_it_is_given(
    tmp_path: Path, owner_database_url: str
) -> None:
    role = ApplicationRole(f"carebridge_test_new_{uuid.uuid4().hex[:8]}", "p@ss:w0rd'%$1")
    application_url = as_role(owner_database_url, role)
    env = clean_env(
        CAREBRIDGE_DATA_DIR=str(tmp_path),
        CAREBRIDGE_DATABASE_URL=application_url,
        CAREBRIDGE_MIGRATION_DATABASE_URL=owner_database_url,
    )
    try:
        migrated = carebridge("migrate", env=env)
        assert migrated.returncode == 0, migrated.stderr
        checked = carebridge(
            "check",
            env=clean_env(
                CAREBRIDGE_DATA_DIR=str(tmp_path), CAREBRIDGE_DATABASE_URL=application_url
            ),
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert f"audit_guard: ok (role {role.name} cannot alter audit_events" in checked.stdout
        assert "migrations: ok" in checked.stdout
    finally:
        admin = make_url(owner_database_url).render_as_string(hide_password=False)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role.name)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role.name)))


def test_migrating_as_the_application_role_says_what_is_needed(
    tmp_path: Path, postgres_server_url: str, application_role: ApplicationRole
) -> None:
    name = f"carebridge_test_empty_{uuid.uuid4().hex[:8]}"
    admin = make_url(postgres_server_url).set(drivername="postgresql")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url = as_role(
            admin.set(database=name).render_as_string(hide_password=False), application_role
        )
        env = clean_env(CAREBRIDGE_DATA_DIR=str(tmp_path), CAREBRIDGE_DATABASE_URL=url)
        result = carebridge("migrate", env=env)
        assert result.returncode == 1
        assert "cannot migrate (" in result.stderr
        assert "migrations connect as the schema's owner, CAREBRIDGE_MIGRATION" in result.stderr
        assert "Traceback" not in result.stderr
    finally:
        with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


async def test_a_data_dir_from_before_two_roles_keeps_working(data_dir: Path) -> None:
    """Made as CareBridge made it until the application had a role of its own: the database
    and every object in it owned by postgres, which the application connected as."""
    embedded = EmbeddedPostgres(data_dir / "postgres")
    engine = create_async_engine(make_url(embedded.start()).set(drivername="postgresql+asyncpg"))
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
        embedded.stop()
    env = clean_env(CAREBRIDGE_DATA_DIR=str(data_dir), CAREBRIDGE_ENVIRONMENT="development")
    checked = await asyncio.to_thread(carebridge, "check", env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "migrations: ok" in checked.stdout
    assert "audit_guard: ok (role carebridge_app" in checked.stdout
    seeded = await asyncio.to_thread(carebridge, "seed", "--demo", env=env)
    assert seeded.returncode == 0, seeded.stderr
    assert "demo data: accounts: 5 created" in seeded.stdout
