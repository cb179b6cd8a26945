from __future__ import annotations

import httpx

from tests.factories.settings import ROOT
from tests.promises import unbuilt_promises


async def test_landing_page_explains_carebridge_and_links_onward(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "CareBridge" in response.text
    assert 'href="/signin"' in response.text
    assert 'href="/api/docs"' in response.text


async def test_api_docs_are_served_from_our_own_static_files(client: httpx.AsyncClient) -> None:
    page = await client.get("/api/docs")
    assert page.status_code == 200
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in page.text
    assert "http" not in page.text  # no external URL at all: everything is root-relative
    bundle = await client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js")
    assert bundle.status_code == 200
    assert len(bundle.content) > 100_000


async def test_openapi_document_describes_the_api(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/api/openapi.json")).json()
    assert spec["info"]["title"] == "CareBridge API"
    assert "/health/ready" in spec["paths"]


async def test_static_assets_are_built(client: httpx.AsyncClient) -> None:
    for path in (
        "vendor/htmx/htmx.min.js",
        "vendor/pico/pico.min.css",
        "css/app.css",
    ):
        assert (await client.get(f"/static/{path}")).status_code == 200, path


async def test_the_readme_and_the_api_description_promise_only_what_is_built(
    client: httpx.AsyncClient,
) -> None:
    readme = (ROOT / "README.md").read_text()
    assert unbuilt_promises(readme) == {}
    spec = (await client.get("/api/openapi.json")).json()
    assert unbuilt_promises(spec["info"]["description"]) == {}
