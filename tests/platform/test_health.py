from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from carebridge.app import create_app
from carebridge.config import Settings
from tests.factories.settings import make_settings


async def test_live_answers_without_touching_dependencies(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_operations_paths_answer_problem_json_even_to_browsers(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/health/nothing", headers={"accept": "text/html"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_ready_checks_database_migrations_and_job_queue(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert {name: check["status"] for name, check in body["checks"].items()} == {
        "database": "ok",
        "migrations": "ok",
        "job_queue": "ok",
    }


async def _get(settings: Settings, path: str) -> httpx.Response:
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        return await client.get(path)


async def _ready(settings: Settings) -> httpx.Response:
    return await _get(settings, "/health/ready")


async def test_ready_answers_503_naming_the_database_when_it_is_unreachable(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, database_url="postgresql://postgres@127.0.0.1:9/carebridge")
    response = await _ready(settings)
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "not_ready"
    assert "database" in body["failing"]
    assert "database" in body["detail"]
    assert body["checks"]["database"]["status"] == "fail"
    assert body["checks"]["migrations"]["status"] == "skipped"


async def test_metrics_answer_without_job_counts_when_the_database_is_down(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, database_url="postgresql://postgres@127.0.0.1:9/carebridge")
    response = await _get(settings, "/metrics")
    assert response.status_code == 200
    assert "carebridge_http_requests_total" in response.text
    assert "carebridge_jobs{" not in response.text


async def test_ready_names_redis_when_configured_and_unreachable(
    settings: Settings, tmp_path: Path
) -> None:
    broken = settings.model_copy(update={"redis_url": "redis://127.0.0.1:9/0"})
    response = await _ready(broken)
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["redis"]
    assert body["checks"]["database"]["status"] == "ok"


@pytest.mark.redis
async def test_ready_checks_redis_when_configured(settings: Settings) -> None:
    import os

    with_redis = settings.model_copy(update={"redis_url": os.environ["CAREBRIDGE_REDIS_URL"]})
    response = await _ready(with_redis)
    assert response.status_code == 200, response.text
    assert response.json()["checks"]["redis"]["status"] == "ok"
