from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from carebridge.app import create_app
from carebridge.config import Settings
from carebridge.platform.db import Database


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_count_requests_by_route_template_and_status(
    client: httpx.AsyncClient,
) -> None:
    for _ in range(3):
        await client.get("/health/live")
    await client.get("/api/v1/does-not-exist")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)
    live = ("method", "GET"), ("route", "/health/live"), ("status", "200")
    assert found[("carebridge_http_requests_total", live)] == 3
    assert found[("carebridge_http_request_duration_seconds_count", live)] == 3
    unmatched = ("method", "GET"), ("route", "unmatched"), ("status", "404")
    assert found[("carebridge_http_requests_total", unmatched)] == 1
    assert found[("carebridge_http_requests_in_flight", ())] == 1  # this scrape itself
    assert ("carebridge_db_pool_size", ()) in found
    assert ("carebridge_jobs", (("status", "todo"),)) in found


async def test_metrics_can_be_protected_or_disabled(settings: Settings, database: Database) -> None:
    protected = settings.model_copy(update={"metrics_token": SecretStr("scrape-token-123")})
    app = create_app(protected, database=database)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        assert (await client.get("/metrics")).status_code == 401
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        ok = await client.get("/metrics", headers={"Authorization": "Bearer scrape-token-123"})
        assert ok.status_code == 200

    disabled = settings.model_copy(update={"metrics_enabled": False, "docs_enabled": False})
    app = create_app(disabled, database=database)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        assert (await client.get("/metrics")).status_code == 404
        assert (await client.get("/api/docs")).status_code == 404
        assert (await client.get("/api/openapi.json")).status_code == 404


async def test_route_label_is_the_full_template_of_an_included_route(
    settings: Settings, database: Database
) -> None:
    from fastapi import APIRouter

    from carebridge.platform.access import PUBLIC

    app = create_app(settings, database=database)
    router = APIRouter(prefix="/api/v1/probe", dependencies=[PUBLIC])

    @router.get("/things/{thing_id}")
    async def thing(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    app.include_router(router)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        await client.get("/api/v1/probe/things/1")
        await client.get("/api/v1/probe/things/2")
        found = samples((await client.get("/metrics")).text)
    labels = ("method", "GET"), ("route", "/api/v1/probe/things/{thing_id}"), ("status", "200")
    assert found[("carebridge_http_requests_total", labels)] == 2
