from __future__ import annotations

import logging

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, Field

from carebridge.platform.access import PUBLIC
from carebridge.platform.errors import Conflict, NotFound, RateLimited


class Booking(BaseModel):
    email: str = Field(min_length=3)
    slots: int = Field(ge=1, le=4)


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    @app.post("/api/v1/probe/conflict", dependencies=[PUBLIC])
    async def conflict() -> None:
        raise Conflict("That slot was just booked by someone else.", code="slot_taken")

    @app.get("/api/v1/probe/missing", dependencies=[PUBLIC])
    async def missing() -> None:
        raise NotFound("No such appointment.")

    @app.get("/api/v1/probe/throttled", dependencies=[PUBLIC])
    async def throttled() -> None:
        raise RateLimited(retry_after=30)

    @app.get("/api/v1/probe/crash", dependencies=[PUBLIC])
    async def crash() -> None:
        raise RuntimeError("kaboom: internal detail that must not leak")

    @app.get("/probe-page/crash", dependencies=[PUBLIC])
    async def page_crash() -> None:
        raise RuntimeError("kaboom on a page")

    @app.post("/api/v1/probe/validate", dependencies=[PUBLIC])
    async def validate(body: Booking) -> Booking:
        return body

    return app


async def test_domain_error_is_problem_json_with_its_code(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/probe/conflict")
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "slot_taken"
    assert body["type"] == "urn:carebridge:problem:slot_taken"
    assert body["status"] == 409
    assert body["title"] == "Conflict with the current state"
    assert body["detail"] == "That slot was just booked by someone else."
    assert body["instance"] == "/api/v1/probe/conflict"
    assert body["request_id"] == response.headers["x-request-id"]


async def test_default_code_and_headers_of_an_error_class(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/v1/probe/missing")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    throttled = await client.get("/api/v1/probe/throttled")
    assert (throttled.status_code, throttled.json()["code"]) == (429, "rate_limited")
    assert throttled.headers["retry-after"] == "30"


async def test_unexpected_exception_is_a_generic_500_logged_with_the_request_id(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    with caplog.at_level(logging.ERROR):
        response = await client.get("/api/v1/probe/crash", headers={"X-Request-ID": "req-crash-1"})
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "internal_error"
    assert body["request_id"] == "req-crash-1"
    assert "kaboom" not in response.text
    assert "req-crash-1" in body["detail"]
    crash_logs = [
        r.msg
        for r in caplog.records
        if isinstance(r.msg, dict) and r.msg.get("event") == "unhandled_exception"
    ]
    assert len(crash_logs) == 1
    assert crash_logs[0]["request_id"] == "req-crash-1"
    assert crash_logs[0]["exc_info"]
    # The rendered log line carries the request id, followed by the traceback.
    logged = capsys.readouterr().err
    line = next(line for line in logged.splitlines() if "unhandled_exception" in line)
    assert "request_id=req-crash-1" in line
    assert "RuntimeError" in logged
    assert "kaboom" in logged


async def test_validation_errors_list_the_fields(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/probe/validate", json={"email": "x", "slots": 9})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error"
    fields = {error["field"] for error in body["errors"]}
    assert fields == {"body.email", "body.slots"}
    assert "body.email" in body["detail"]


async def test_malformed_json_is_a_clear_4xx(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/probe/validate", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


async def test_unknown_api_route_is_problem_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "not_found"


async def test_wrong_method_is_problem_json(client: httpx.AsyncClient) -> None:
    response = await client.delete("/api/v1/probe/conflict")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


async def test_unknown_page_for_a_browser_is_an_html_404_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/no-such-page", headers={"accept": "text/html"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Page not found" in response.text
    assert response.headers["x-request-id"] in response.text


async def test_unexpected_exception_on_a_page_is_the_500_page_for_people(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/probe-page/crash", headers={"accept": "text/html"})
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert "Something went wrong" in response.text
    assert response.headers["x-request-id"] in response.text
    assert "kaboom" not in response.text
    as_program = await client.get("/probe-page/crash", headers={"accept": "application/json"})
    assert as_program.json()["code"] == "internal_error"
