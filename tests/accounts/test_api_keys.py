from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from carebridge.accounts.api_keys import ApiKeyCaller
from carebridge.accounts.models import Role
from tests.factories import SignIn

FhirReader = ApiKeyCaller("fhir:read")


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    @app.get("/api/v1/probe/fhir")
    async def fhir_probe(client: FhirReader) -> dict[str, str]:
        return {"client": client.name}

    return app


async def test_admin_creates_a_scoped_key_shown_once(
    client: httpx.AsyncClient, sign_in: SignIn
) -> None:
    admin = await sign_in(Role.admin)
    created = await client.post(
        "/api/v1/admin/api-keys",
        headers=admin.headers,
        json={"name": "City Lab", "scopes": ["fhir:read"], "expires_in_days": 30},
    )
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    assert key.startswith(f"cbk_{created.json()['prefix']}_")
    listed = await client.get("/api/v1/admin/api-keys", headers=admin.headers)
    assert key not in listed.text
    assert [k["name"] for k in listed.json()] == ["City Lab"]

    used = await client.get("/api/v1/probe/fhir", headers={"X-API-Key": key})
    assert used.json() == {"client": "City Lab"}
    after = (await client.get("/api/v1/admin/api-keys", headers=admin.headers)).json()
    assert after[0]["last_used_at"] is not None

    revoked = await client.delete(
        f"/api/v1/admin/api-keys/{created.json()['id']}", headers=admin.headers
    )
    assert revoked.status_code == 204
    refused = await client.get("/api/v1/probe/fhir", headers={"X-API-Key": key})
    assert (refused.status_code, refused.json()["code"]) == (401, "invalid_api_key")


async def test_keys_are_checked_for_scope_and_shape(
    client: httpx.AsyncClient, sign_in: SignIn
) -> None:
    admin = await sign_in(Role.admin)
    other = (
        await client.post(
            "/api/v1/admin/api-keys",
            headers=admin.headers,
            json={"name": "Pharmacy", "scopes": ["prescriptions:read"]},
        )
    ).json()["key"]
    wrong_scope = await client.get("/api/v1/probe/fhir", headers={"X-API-Key": other})
    assert (wrong_scope.status_code, wrong_scope.json()["code"]) == (403, "missing_scope")
    for bad in ["", "cbk_nope", other[:-2] + "xx", "Bearer " + other]:
        response = await client.get("/api/v1/probe/fhir", headers={"X-API-Key": bad})
        assert response.status_code == 401, bad
    invalid = await client.post(
        "/api/v1/admin/api-keys",
        headers=admin.headers,
        json={"name": "X", "scopes": ["everything"]},
    )
    assert invalid.status_code == 422
    # A user's access token is not an API key, and API keys are for admins to create only.
    patient = await sign_in()
    assert (await client.get("/api/v1/probe/fhir", headers=patient.headers)).status_code == 401
    denied = await client.post(
        "/api/v1/admin/api-keys",
        headers=patient.headers,
        json={"name": "Mine", "scopes": ["fhir:read"]},
    )
    assert denied.status_code == 403
