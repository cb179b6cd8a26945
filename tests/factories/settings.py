"""Settings of a test's CareBridge: the test secrets, a data dir of the test's own, no Redis and
no in-process worker unless a test says otherwise."""

from __future__ import annotations

from pathlib import Path

from carebridge.config import Settings

ROOT = Path(__file__).resolve().parents[2]
TEST_SECRET = "test-only-secret-key-0123456789abcdefghijklmnop"


def make_settings(tmp_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "environment": "test",
        "data_dir": tmp_dir,
        "secret_key": TEST_SECRET,
        "encryption_key": TEST_SECRET,
        "in_process_worker": False,
        "redis_url": None,
        "password_hash_cost": "minimal",  # argon2id's standard cost would make every sign-in slow
        "_env_file": None,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]
