from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from carebridge.config import Environment, Settings, load_settings

STRONG = "q" * 20 + "Zx9-" + "w" * 20


def production(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "environment": "production",
        "data_dir": tmp_path,
        "database_url": "postgresql://carebridge@db.internal/carebridge",
        "public_base_url": "https://care.example.org",
        "secret_key": STRONG,
        "encryption_key": STRONG[::-1],
        "_env_file": None,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def test_production_with_strong_secrets_has_no_problems(tmp_path: Path) -> None:
    assert production(tmp_path).problems() == []


def test_production_names_each_missing_secret(tmp_path: Path) -> None:
    problems = production(tmp_path, secret_key=None, encryption_key=None).problems()
    assert "CAREBRIDGE_SECRET_KEY is not set" in problems
    assert "CAREBRIDGE_ENCRYPTION_KEY is not set" in problems


@pytest.mark.parametrize(
    "value",
    [
        "changeme",
        "secret",
        "short-but-real",
        "replace-with-output-of-python-secrets-token-urlsafe-48",
    ],
)
def test_production_refuses_placeholder_or_short_secrets(tmp_path: Path, value: str) -> None:
    (problem,) = production(tmp_path, secret_key=value).problems()
    assert problem.startswith("CAREBRIDGE_SECRET_KEY is")


def test_production_refuses_the_generated_development_secrets(tmp_path: Path) -> None:
    dev = load_settings(environment="development", data_dir=tmp_path, _env_file=None)
    assert dev.secret_key is not None
    leaked = production(tmp_path, secret_key=dev.secret_key.get_secret_value())
    assert leaked.problems() == [
        "CAREBRIDGE_SECRET_KEY is a development value; generate a new one for production"
    ]


def test_production_needs_a_database_and_https(tmp_path: Path) -> None:
    problems = production(
        tmp_path, database_url=None, public_base_url="http://care.example.org"
    ).problems()
    assert any("CAREBRIDGE_DATABASE_URL" in p for p in problems)
    assert any("CAREBRIDGE_PUBLIC_BASE_URL" in p for p in problems)


def test_production_refuses_the_minimal_password_hash_cost(tmp_path: Path) -> None:
    (problem,) = production(tmp_path, password_hash_cost="minimal").problems()
    assert problem.startswith("CAREBRIDGE_PASSWORD_HASH_COST must be standard in production")
    assert production(tmp_path).password_hash_cost == "standard"


def test_development_secrets_are_generated_once_and_reused(tmp_path: Path) -> None:
    first = load_settings(environment="development", data_dir=tmp_path, _env_file=None)
    second = load_settings(environment="development", data_dir=tmp_path, _env_file=None)
    assert isinstance(first.secret_key, SecretStr)
    assert first.secret_key == second.secret_key
    assert first.encryption_key == second.encryption_key
    assert first.secret_key != first.encryption_key
    stored = tmp_path / "secrets.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert json.loads(stored.read_text())["secret_key"] == first.secret_key.get_secret_value()
    assert first.problems() == []


def test_explicit_secrets_win_over_generated_ones(tmp_path: Path) -> None:
    settings = load_settings(environment="development", data_dir=tmp_path, secret_key=STRONG)
    assert settings.secret_key is not None
    assert settings.secret_key.get_secret_value() == STRONG


def test_settings_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAREBRIDGE_ENVIRONMENT", "production")
    monkeypatch.setenv("CAREBRIDGE_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("CAREBRIDGE_DATABASE_URL", "postgresql+asyncpg://u:p@h:5433/d")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.environment == Environment.production
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.sqlalchemy_url.drivername == "postgresql+asyncpg"
    assert settings.libpq_url == "postgresql://u:p@h:5433/d"


def test_invalid_values_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="public_base_url"):
        Settings(public_base_url="care.example.org", _env_file=None)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="environment"):
        Settings(environment="staging", _env_file=None)  # type: ignore[call-arg]


def test_only_postgresql_and_redis_urls_are_accepted(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="postgresql://"):
        Settings(database_url="mysql://root@localhost/care", _env_file=None)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="redis://"):
        Settings(redis_url="http://localhost:6379", _env_file=None)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="postgresql://"):
        Settings(  # type: ignore[call-arg]
            database_url="postgresql://app@db/care",
            migration_database_url="mysql://root@db/care",
            _env_file=None,
        )


def test_migrations_connect_as_the_owner_when_one_is_set() -> None:
    app = "postgresql://carebridge_app:pw@db.internal/carebridge"
    owner = "postgresql://carebridge:secret@db.internal/carebridge"
    alone = Settings(database_url=app, _env_file=None)  # type: ignore[call-arg]
    assert alone.migration_sqlalchemy_url.username == "carebridge_app"
    both = Settings(database_url=app, migration_database_url=owner, _env_file=None)  # type: ignore[call-arg]
    assert both.migration_sqlalchemy_url.username == "carebridge"
    assert both.sqlalchemy_url.username == "carebridge_app"


@pytest.mark.parametrize(
    ("database_url", "message"),
    [
        (None, "migration_database_url\n.*set without CAREBRIDGE_DATABASE_URL"),
        # libpq would take the user from the environment: the grants could go to another role.
        ("postgresql:///carebridge?host=/run/postgresql", "must name its user"),
    ],
)
def test_the_application_role_must_be_unambiguous(database_url: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message) as refused:
        Settings(  # type: ignore[call-arg]
            database_url=database_url,
            migration_database_url="postgresql://carebridge@db.internal/carebridge",
            secret_key=STRONG,
            _env_file=None,
        )
    assert STRONG not in str(refused.value)  # the message shows no other setting's value


def test_production_checks_a_metrics_token_when_one_is_set(tmp_path: Path) -> None:
    assert production(tmp_path, metrics_token="change-me").problems() == [
        "CAREBRIDGE_METRICS_TOKEN is a development value; generate a new one for production"
    ]
    assert production(tmp_path, metrics_token=STRONG).problems() == []


def test_a_worker_is_taken_for_dead_only_after_missing_two_heartbeats(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CAREBRIDGE_WORKER_HEARTBEAT_SECONDS", "5")
    monkeypatch.setenv("CAREBRIDGE_WORKER_STALLED_SECONDS", "12.5")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (settings.worker_heartbeat_seconds, settings.worker_stalled_seconds) == (5, 12.5)
    with pytest.raises(ValueError, match=r"worker_stalled_seconds\n.*at least twice"):
        Settings(worker_stalled_seconds=9, _env_file=None)  # type: ignore[call-arg]


def test_the_clinic_has_one_currency_from_the_iso_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert production(tmp_path).currency == "EUR"  # the default
    monkeypatch.setenv("CAREBRIDGE_CURRENCY", " jpy ")
    assert production(tmp_path).currency == "JPY"
    for wrong in ("EURO", "XYZ", ""):
        monkeypatch.setenv("CAREBRIDGE_CURRENCY", wrong)
        with pytest.raises(ValidationError, match="ISO 4217"):
            production(tmp_path)


@pytest.mark.parametrize(
    ("urls", "secret", "expected"),
    [
        ("turn:turn.clinic.example:3478", None, "CAREBRIDGE_TURN_SECRET is not set"),
        ("turn:turn.clinic.example:3478", "change-me", "CAREBRIDGE_TURN_SECRET is a development"),
        (
            "turn:turn.clinic.example:3478",
            "short-turn-secret",
            "CAREBRIDGE_TURN_SECRET is too short",
        ),
        ("https://turn.clinic.example", STRONG, "CAREBRIDGE_TURN_URLS: 'https://turn"),
    ],
)
def test_turn_servers_need_a_real_shared_secret(
    tmp_path: Path, urls: str, secret: str | None, expected: str
) -> None:
    """In every mode: a TURN server with no secret, or a guessable one, is refused at start."""
    settings = load_settings(data_dir=tmp_path, turn_urls=urls, turn_secret=secret, _env_file=None)
    (problem,) = settings.problems()
    assert problem.startswith(expected)


def test_turn_servers_with_a_strong_secret_are_fine(tmp_path: Path) -> None:
    urls = "turn:turn.clinic.example:3478?transport=udp,turns:turn.clinic.example:5349"
    fine = load_settings(data_dir=tmp_path, turn_urls=urls, turn_secret=STRONG, _env_file=None)
    assert fine.problems() == []
    assert fine.turn_urls == urls.split(",")
