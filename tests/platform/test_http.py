from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI, Request

from carebridge.app import create_app
from carebridge.config import Environment, Settings
from carebridge.platform.access import PUBLIC
from carebridge.platform.db import Database


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    @app.post("/api/v1/probe/echo-size", dependencies=[PUBLIC])
    async def echo_size(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    return app


async def test_request_id_is_generated_and_returned(client: httpx.AsyncClient) -> None:
    first = await client.get("/health/live")
    second = await client.get("/health/live")
    assert len(first.headers["x-request-id"]) == 32
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_incoming_request_id_is_kept_and_unsafe_ones_replaced(
    client: httpx.AsyncClient,
) -> None:
    kept = await client.get("/health/live", headers={"X-Request-ID": "edge-7f3a.1"})
    assert kept.headers["x-request-id"] == "edge-7f3a.1"
    replaced = await client.get("/health/live", headers={"X-Request-ID": "bad id\twith spaces"})
    assert replaced.headers["x-request-id"] != "bad id\twith spaces"
    assert len(replaced.headers["x-request-id"]) == 32


async def test_security_headers_on_pages_and_api(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert "strict-transport-security" not in page.headers  # not in test/development
    assert "no-store" not in page.headers.get("cache-control", "")
    api = await client.get("/api/openapi.json")
    assert api.headers["cache-control"] == "no-store"
    assert api.headers["x-content-type-options"] == "nosniff"


async def test_hsts_in_production(settings: Settings, database: Database) -> None:
    production = settings.model_copy(
        update={"environment": Environment.production, "public_base_url": "https://clinic.example"}
    )
    app = create_app(production, database=database)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="https://t") as client,
    ):
        response = await client.get("/health/live")
    assert response.headers["strict-transport-security"].startswith("max-age=")


async def test_declared_body_over_the_limit_is_rejected(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    too_big = b"x" * (settings.max_body_bytes + 1)
    response = await client.post("/api/v1/probe/echo-size", content=too_big)
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    fits = await client.post("/api/v1/probe/echo-size", content=b"x" * 2048)
    assert fits.json() == {"size": 2048}


async def test_streamed_body_over_the_limit_is_rejected(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    chunk = b"x" * 65536
    count = settings.max_body_bytes // len(chunk) + 2

    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(count):
            yield chunk

    response = await client.post("/api/v1/probe/echo-size", content=chunks())
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


async def test_cors_allows_only_configured_origins(settings: Settings, database: Database) -> None:
    configured = settings.model_copy(update={"cors_origins": ["https://app.clinic.example"]})
    app = create_app(configured, database=database)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        preflight = {"Access-Control-Request-Method": "GET"}
        allowed = await client.options(
            "/health/live", headers={"Origin": "https://app.clinic.example", **preflight}
        )
        refused = await client.options(
            "/health/live", headers={"Origin": "https://evil.example", **preflight}
        )
    assert allowed.headers["access-control-allow-origin"] == "https://app.clinic.example"
    assert "access-control-allow-origin" not in refused.headers
