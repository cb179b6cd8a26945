"""Each API key has its own rate limit (CAREBRIDGE_API_KEY_RATE_LIMIT)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from carebridge.accounts.api_keys import issue_key
from carebridge.app import create_app
from carebridge.config import Settings
from carebridge.platform.db import Database


@pytest.fixture
def app(settings: Settings, database: Database) -> FastAPI:
    limited = settings.model_copy(update={"api_key_rate_limit": "2/minute"})
    return create_app(limited, database=database)


async def test_a_key_over_its_limit_gets_429_with_retry_after(
    client: httpx.AsyncClient, database: Database
) -> None:
    async with database.transaction() as db:
        _, key = await issue_key(db, "Busy integration", ["appointments:read"], created_by=None)
        _, other = await issue_key(db, "Quiet integration", ["appointments:read"], created_by=None)
    for _ in range(2):
        ok = await client.get("/api/v1/appointments", headers={"X-API-Key": key})
        assert ok.status_code == 200, ok.text
    limited = await client.get("/api/v1/appointments", headers={"X-API-Key": key})
    assert (limited.status_code, limited.json()["code"]) == (429, "rate_limited")
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    # The limit is the key's own: another key of the clinic is not slowed down.
    quiet = await client.get("/api/v1/appointments", headers={"X-API-Key": other})
    assert quiet.status_code == 200
