"""An API key's use: limited per key (CAREBRIDGE_API_KEY_RATE_LIMIT, a small limit here),
logged, and the callers that take a key beside a role or alone (on probe routes)."""

from __future__ import annotations

import logging
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI

from carebridge.accounts.actors import Actor, Keys, PatientActor
from carebridge.accounts.api_keys import ApiClient, ApiKeyCaller, ApiKeyOr, ApiKeyScope, issue_key
from carebridge.accounts.models import Role
from carebridge.app import create_app
from carebridge.config import Settings
from carebridge.platform.db import Database
from tests.factories import SignIn

READ = ApiKeyScope.appointments_read
PatientOrReader = Annotated[Actor | ApiClient, ApiKeyOr(PatientActor, scope=READ)]
ReaderOnly = Annotated[ApiClient, ApiKeyCaller(READ)]


@pytest.fixture
def app(settings: Settings, database: Database) -> FastAPI:
    app = create_app(
        settings.model_copy(update={"api_key_rate_limit": "2/minute"}), database=database
    )

    @app.get("/api/v1/probe/patient-or-key")
    async def patient_or_key(caller: PatientOrReader) -> dict[str, str]:
        return {"caller": caller.name if isinstance(caller, ApiClient) else str(caller.role)}

    @app.get("/api/v1/probe/key-only")
    async def key_only(caller: ReaderOnly) -> dict[str, str]:
        return {"caller": caller.name}

    return app


async def key_of(database: Database, name: str, *scopes: str) -> dict[str, str]:
    async with database.transaction() as db:
        _, key = await issue_key(db, name, scopes, created_by=None)
    return {"X-API-Key": key}


async def test_a_key_over_its_limit_gets_429_with_retry_after(
    client: httpx.AsyncClient, database: Database
) -> None:
    busy = await key_of(database, "Busy integration", "appointments:read")
    quiet = await key_of(database, "Quiet integration", "appointments:read")
    for _ in range(2):
        ok = await client.get("/api/v1/appointments", headers=busy)
        assert ok.status_code == 200, ok.text
    limited = await client.get("/api/v1/appointments", headers=busy)
    assert (limited.status_code, limited.json()["code"]) == (429, "rate_limited")
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    # The limit is the key's own: another key of the clinic is not slowed down.
    assert (await client.get("/api/v1/appointments", headers=quiet)).status_code == 200


async def test_each_use_is_logged_without_the_key(
    client: httpx.AsyncClient, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    reader = await key_of(database, "Clinic calendar", "appointments:read")
    other = await key_of(database, "Clinic billing", "fhir:read")
    with caplog.at_level(logging.INFO):
        await client.get("/api/v1/appointments", headers=reader)
        await client.get("/api/v1/appointments", headers=other)
    uses = [
        r.msg
        for r in caplog.records
        if isinstance(r.msg, dict) and r.msg.get("event") == "api_key.used"
    ]
    assert [(u["key_name"], u["allowed"], u["path"]) for u in uses] == [
        ("Clinic calendar", True, "/api/v1/appointments"),
        ("Clinic billing", False, "/api/v1/appointments"),
    ]
    assert len({u["key_id"] for u in uses}) == 2
    assert reader["X-API-Key"] not in caplog.text
    assert other["X-API-Key"] not in caplog.text


async def test_a_key_beside_a_role_and_a_key_alone(
    client: httpx.AsyncClient, database: Database, sign_in: SignIn
) -> None:
    key = await key_of(database, "Clinic calendar", "appointments:read")
    patient = await sign_in()
    doctor = await sign_in(Role.doctor)

    as_key = await client.get("/api/v1/probe/patient-or-key", headers=key)
    assert as_key.json() == {"caller": "Clinic calendar"}
    as_patient = await client.get("/api/v1/probe/patient-or-key", headers=patient.headers)
    assert as_patient.json() == {"caller": "patient"}
    # The role caller still holds for users.
    as_doctor = await client.get("/api/v1/probe/patient-or-key", headers=doctor.headers)
    assert (as_doctor.status_code, as_doctor.json()["code"]) == (403, "wrong_role")

    assert (await client.get("/api/v1/probe/key-only", headers=key)).json() == {
        "caller": "Clinic calendar"
    }
    # A user's access token is not an API key.
    refused = await client.get("/api/v1/probe/key-only", headers=patient.headers)
    assert (refused.status_code, refused.json()["code"]) == (401, "invalid_api_key")


def test_a_caller_that_needs_more_than_a_user_cannot_take_keys() -> None:
    async def needs_keys(keys: Keys) -> Actor:
        raise AssertionError("never called")

    with pytest.raises(TypeError, match="cannot wrap needs_keys"):
        ApiKeyOr(Annotated[Actor, Depends(needs_keys)], scope=READ)
