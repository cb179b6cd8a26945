"""Every page route that changes something refuses a request without this browser's CSRF token.

The walk finds the routes by themselves: every page route (outside /api/, /health/, /metrics,
/.well-known/ and /static) with a state-changing method. Each must declare the CSRF check
(``dependencies=[Csrf]`` for a form, ``[CsrfHeader]`` for a script posting JSON), and each is
then posted by a browser signed in as a person the route lets in, once without a token and once
with another browser's valid token: the answer must be the CSRF refusal (403, "The form
expired") and no row of any table may have changed. The same post with the browser's own token
must get past the check, so the refusal is the token's doing. A route added without the check
fails here, saying what to add."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from sqlalchemy import update
from starlette.responses import Response

from carebridge.accounts.models import Role, User
from carebridge.platform.access import anonymous, declared_callers
from carebridge.platform.db import Database
from carebridge.platform.deps import Session
from carebridge.platform.problems import API_PATH_PREFIXES
from carebridge.web.callers import WebUser, web_any_doctor, web_doctor, web_patient
from carebridge.web.session import (
    CsrfFailed,
    check_csrf,
    check_csrf_header,
    web_admin,
    web_user,
    web_visitor,
)
from tests.factories import MakeUser
from tests.factories.databases import snapshot
from tests.factories.web import Browser, form_token

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
CHECKS: dict[Callable[..., Any], str] = {check_csrf: "form", check_csrf_header: "header"}

# Page routes that change state without the CSRF token, by (method, path). Adding one is a
# decision: say here which other defence the route has. None today: the sign-in and sign-up
# forms carry the token too (against login CSRF), and the providers' webhooks live under /api/.
EXEMPT: dict[tuple[str, str], str] = {}

# Whom the walk signs in for a route, by the page caller it declares (the most specific first);
# a route open to visitors is posted by a visitor's browser (None).
SIGNED_IN_AS: list[tuple[Callable[..., Any], Role | None]] = [
    (web_admin, Role.admin),
    (web_doctor, Role.doctor),
    (web_any_doctor, Role.doctor),
    (web_patient, Role.patient),
    (web_user, Role.patient),
    (web_visitor, None),
    (anonymous, None),
]

_PARAMETER = re.compile(r"\{[^}]+\}")


@dataclass(frozen=True)
class FormRoute:
    method: str
    path: str
    check: str  # "form" (a hidden field) or "header" (X-CSRF-Token)
    role: Role | None


def _checks(dependant: Dependant) -> set[str]:
    found = {CHECKS[dependant.call]} if dependant.call in CHECKS else set()
    for sub in dependant.dependencies:
        found |= _checks(sub)
    return found


def _signed_in_as(method: str, path: str, dependant: Dependant) -> Role | None:
    declared = declared_callers(dependant)
    for page_caller, role in SIGNED_IN_AS:
        if page_caller in declared:
            return role
    raise AssertionError(
        f"{method} {path}: its caller {sorted(c.__name__ for c in declared)} is not in "
        "SIGNED_IN_AS of tests/web/test_csrf_walk.py: add whom to sign in for it"
    )


def form_routes(app: FastAPI) -> tuple[list[FormRoute], list[str]]:
    """The state-changing page routes, and what is missing on those without the CSRF check."""
    routes: list[FormRoute] = []
    missing: list[str] = []
    for context in iter_route_contexts(app.routes):
        path = str(context.path_format)
        dependant = getattr(context, "dependant", None)
        if path.startswith((*API_PATH_PREFIXES, "/static")) or dependant is None:
            continue
        for method in sorted(set(getattr(context, "methods", None) or ()) & STATE_CHANGING):
            if (method, path) in EXEMPT:
                continue
            checks = _checks(dependant)
            if not checks:
                missing.append(
                    f"{method} {path} changes state without the CSRF check: add "
                    "dependencies=[Csrf] (a form) or dependencies=[CsrfHeader] (a script "
                    "posting JSON) from carebridge.web.session, or list it in EXEMPT of "
                    "tests/web/test_csrf_walk.py with the defence it has instead"
                )
            check = "header" if checks == {"header"} else "form"
            routes.append(FormRoute(method, path, check, _signed_in_as(method, path, dependant)))
    # Signing out ends the browser's session: last, so every other route is posted signed in.
    return sorted(routes, key=lambda r: (r.path == "/signout", r.path, r.method)), missing


def is_csrf_refusal(answer: httpx.Response) -> bool:
    return answer.status_code == 403 and CsrfFailed.title in answer.text


async def post(browser: httpx.AsyncClient, route: FormRoute, token: str | None) -> httpx.Response:
    """The route posted as a form (or a script's JSON) that would change something if let in."""
    url = _PARAMETER.sub(str(uuid.uuid4()), route.path)
    if route.check == "header":
        headers = {"x-csrf-token": token} if token is not None else {}
        body = {"endpoint": "https://push.example/send/1", "keys": {"p256dh": "k", "auth": "a"}}
        return await browser.request(route.method, url, json=body, headers=headers)
    form = {"name": "Changed by another site", "confirm": "yes", "status": "online"}
    if token is not None:
        form["csrf_token"] = token
    return await browser.request(route.method, url, data=form)


async def refusals(
    database: Database, browser: httpx.AsyncClient, route: FormRoute, other_token: str
) -> list[str]:
    """What is wrong with how ``route`` treats a post without this browser's token."""
    problems = []
    before = await snapshot(database)
    for attempt, token in (("no token", None), ("another browser's token", other_token)):
        answer = await post(browser, route, token)
        if not is_csrf_refusal(answer):
            problems.append(
                f"{route.method} {route.path} with {attempt}: answered {answer.status_code}, "
                f"not the CSRF refusal: {answer.text[:120]!r}"
            )
    after = await snapshot(database)
    changed = sorted(name for name, rows in after.items() if before.get(name) != rows)
    if changed:
        problems.append(f"{route.method} {route.path} without the token changed {changed}")
    return problems


@pytest.fixture
async def browsers(
    client: httpx.AsyncClient, browser: Browser, make_user: MakeUser
) -> dict[Role | None, httpx.AsyncClient]:
    """A visitor's browser (with its form token) and one signed-in browser per role."""
    opened: dict[Role | None, httpx.AsyncClient] = {None: client}
    await client.get("/signin")
    for role in (Role.patient, Role.doctor, Role.admin):
        opened[role] = await browser(await make_user(role))
    return opened


async def token_of(browser: httpx.AsyncClient) -> str:
    """The browser's form token now: bound to its session, so it changes when the session
    does (signing out is posted last)."""
    return await form_token(browser)


async def test_every_state_changing_page_route_checks_the_csrf_token(
    app: FastAPI, database: Database, browsers: dict[Role | None, httpx.AsyncClient]
) -> None:
    routes, missing = form_routes(app)
    assert not set(EXEMPT) - {(r.method, r.path) for r in routes}, "EXEMPT names no route"
    assert len(routes) >= 40, [f"{r.method} {r.path}" for r in routes]
    problems = list(missing)
    for route in routes:
        own = browsers[route.role]
        other = await token_of(browsers[Role.admin if route.role is None else None])
        problems += await refusals(database, own, route, other)
        # The same post with this browser's own token gets past the check (to a form error,
        # a 404 for the made-up id, a redirect): the refusal above was the token's doing.
        passed = await post(own, route, await token_of(own))
        if is_csrf_refusal(passed):
            problems.append(f"{route.method} {route.path} refused its own browser's token")
    assert problems == []


async def test_a_route_added_without_the_check_fails_the_walk(
    app: FastAPI, database: Database, browsers: dict[Role | None, httpx.AsyncClient]
) -> None:
    router = APIRouter()

    @router.post("/account/nickname")
    async def rename(actor: WebUser, db: Session) -> Response:
        await db.execute(update(User).where(User.id == actor.id).values(name="Renamed"))
        return Response(status_code=204)

    app.include_router(router)
    routes, missing = form_routes(app)
    assert FormRoute("POST", "/account/nickname", "form", Role.patient) in routes
    assert len(missing) == 1
    assert missing[0].startswith("POST /account/nickname changes state without the CSRF check")
    assert "add dependencies=[Csrf]" in missing[0]

    probe = FormRoute("POST", "/account/nickname", "form", Role.patient)
    problems = await refusals(
        database, browsers[Role.patient], probe, await token_of(browsers[None])
    )
    assert len(problems) == 3, problems
    assert problems[0].startswith("POST /account/nickname with no token: answered 204")
    assert problems[2] == "POST /account/nickname without the token changed ['users']"
