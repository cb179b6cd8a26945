"""Pages always answer with a page: every page route (everything outside /api/, /health/,
/metrics and /.well-known/), opened with a bad path parameter, with a NUL in its query, or posted
empty, answers HTML (an error page, or its form again with what to fix) or a redirect to one,
never JSON, whoever asks: a visitor or a signed-in patient, doctor, admin or nurse. Requests
carry no ``Accept: text/html``: htmx and scripts send ``*/*``."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from carebridge.accounts.models import Role
from carebridge.platform.problems import API_PATH_PREFIXES
from tests.factories import MakeUser
from tests.factories.web import csrf, form_token, sign_in_browser

Client = Callable[[Role | None], Awaitable[httpx.AsyncClient]]
_PARAMETER = re.compile(r"\{[^}]+\}")


def page_routes(app: FastAPI) -> list[tuple[str, str]]:
    found = set()
    for context in iter_route_contexts(app.routes):
        path = str(context.path_format)
        if path.startswith((*API_PATH_PREFIXES, "/static")):
            continue
        for method in getattr(context, "methods", None) or ():
            if method in ("GET", "POST"):
                found.add((method, path))
    # Signing out ends the browser's session: last, so every other form is posted signed in.
    return sorted(found, key=lambda route: (route[1] == "/signout", route))


def a_page(answer: httpx.Response) -> bool:
    """HTML, or a redirect to a page, and never a server error."""
    if answer.status_code >= 500:
        return False
    if 300 <= answer.status_code < 400:
        return "location" in answer.headers
    return answer.headers.get("content-type", "").startswith("text/html")


@pytest.fixture
async def client_as(app: FastAPI, make_user: MakeUser) -> AsyncIterator[Client]:
    opened: list[httpx.AsyncClient] = []

    async def open_as(role: Role | None) -> httpx.AsyncClient:
        browser = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://testserver",
            headers={"accept": "*/*"},
        )
        opened.append(browser)
        if role is None:
            await browser.get("/signin")  # the form token's cookie
        else:
            user = await make_user(role)
            assert (await sign_in_browser(browser, user.email)).status_code == 303
        return browser

    yield open_as
    for browser in opened:
        await browser.aclose()


@pytest.mark.parametrize("role", [None, *Role], ids=["visitor", *(str(r) for r in Role)])
async def test_every_page_route_answers_a_page(
    app: FastAPI, client: httpx.AsyncClient, client_as: Client, role: Role | None
) -> None:
    browser = await client_as(role)
    token = await form_token(browser)
    form = {"csrf_token": token}
    failures = []
    for method, path in page_routes(app):
        tries = [(path + "?q=%00", None)]  # refused before any route runs: 422
        if "{" in path:
            tries.append((_PARAMETER.sub("notauuid", path), form))  # not found: 404
        if method == "POST":
            tries.append((_PARAMETER.sub(str(uuid.uuid4()), path), form))  # posted empty
        for url, data in tries:
            if method == "GET":
                answer = await browser.get(url)
            else:
                answer = await browser.post(url, data=data or form)
            if not a_page(answer):
                failures.append((method, url, answer.status_code, answer.text[:200]))
    assert failures == []


async def test_what_people_met_as_json(client: httpx.AsyncClient) -> None:
    """The three of issue 14: an empty sign-up form, an empty sign-in form, a doctor's address
    that is not one."""
    token = await form_token(client)
    signup = await client.post("/signup", data={"csrf_token": token})
    assert signup.status_code == 422
    assert signup.headers["content-type"].startswith("text/html")
    assert 'id="signup-form"' in signup.text or "<form" in signup.text
    assert "Full name: required" in signup.text
    signin = await client.post("/signin", data={"csrf_token": token})
    assert signin.status_code == 422
    assert signin.headers["content-type"].startswith("text/html")
    assert "Email: required" in signin.text
    doctor = await client.get("/doctors/notauuid")
    assert doctor.status_code == 404
    assert doctor.headers["content-type"].startswith("text/html")
    assert "Page not found" in doctor.text
    nul = await client.get("/doctors", params={"q": "a\x00b"})
    assert nul.status_code == 422
    assert nul.headers["content-type"].startswith("text/html")
    assert "Search" in nul.text or "q" in nul.text


async def test_programs_still_get_problems(client: httpx.AsyncClient) -> None:
    """The API keeps answering problem+json, and a script that asks a page for JSON only gets
    it (content negotiation)."""
    api = await client.get("/api/v1/doctors/notauuid")
    assert api.headers["content-type"] == "application/problem+json"
    asked = await client.get("/doctors/notauuid", headers={"accept": "application/json"})
    assert asked.headers["content-type"] == "application/problem+json"


async def test_a_signed_in_person_gets_pages_too(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    nurse = await make_user(Role.nurse)
    await sign_in_browser(client, nurse.email)
    page = await client.get("/account")
    forbidden = await client.get("/admin/users", headers={"accept": "*/*"})
    assert forbidden.status_code == 403
    assert forbidden.headers["content-type"].startswith("text/html")
    revoked = await client.post(
        "/account/sessions/notauuid/revoke", data={"csrf_token": csrf(page)}
    )
    assert revoked.status_code == 404
    assert revoked.headers["content-type"].startswith("text/html")
