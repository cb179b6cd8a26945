"""The carebridge command as people run it: real processes, real databases."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import httpx
import psutil
import pytest

from carebridge.platform.migrate import head_revision
from tests.conftest import TEST_SECRET
from tests.helpers import carebridge, clean_env, free_port, running_server


def postgres_gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE  # exited, not yet reaped
    except psutil.NoSuchProcess:
        return True


def test_serve_without_database_url_runs_on_embedded_postgres(tmp_path: Path) -> None:
    """The fresh-machine path: no database configured, one command, then Ctrl-C stops it all."""
    env = clean_env(CAREBRIDGE_DATA_DIR=str(tmp_path / "var"), CAREBRIDGE_ENVIRONMENT="development")
    log = tmp_path / "serve.log"
    with running_server(env, log) as (base_url, process):
        ready = httpx.get(f"{base_url}/health/ready").json()
        assert ready["status"] == "ok"
        assert ready["checks"]["migrations"]["status"] == "ok"
        assert httpx.get(f"{base_url}/api/docs").status_code == 200
        assert "carebridge_http_requests_total" in httpx.get(f"{base_url}/metrics").text
        pgdata = tmp_path / "var" / "postgres"
        postgres_pid = int((pgdata / "postmaster.pid").read_text().split()[0])
        assert not postgres_gone(postgres_pid)
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


def test_migrate_check_and_seed_against_a_database(tmp_path: Path, database_url: str) -> None:
    env = clean_env(CAREBRIDGE_DATA_DIR=str(tmp_path), CAREBRIDGE_DATABASE_URL=database_url)
    migrated = carebridge("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    assert f"database is at revision {head_revision()}" in migrated.stdout

    checked = carebridge("check", env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "database: ok" in checked.stdout
    assert "migrations: ok" in checked.stdout
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
