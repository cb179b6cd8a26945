"""Nobody reaches another person's object through an id in the path: the object-level
authorization matrix, generated from the application's routes.

Every API route and every web page (and download) with a path parameter naming an object is
called with an object of the owner's world (``tests/factories/ownership.py``: one factory per
parameter, and who the domain's policy entitles to see it) as each actor kind that is not
entitled: another patient, a doctor without a relationship, a nurse, an administrator where the
policy does not let them see it, anonymous. Each must answer 404 (401 anonymous, or a page's
redirect to sign in; 403 where the route refuses the role), never 2xx, and never the owner's
private words or ids. Every administrators' route is called as every non-administrator: 403.
An entitled actor's call of the same route must not answer 404, so the refusals are about the
caller, not a missing object. A route whose parameter the registry does not know fails the walk
with what to add.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from carebridge.accounts.actors import AdminActor, AnyUser
from carebridge.platform.db import Database
from carebridge.platform.jobs import job_app
from carebridge.platform.realtime.topics import HOOKS, Identity
from carebridge.web.callers import WebUser
from tests.factories.databases import undone
from tests.factories.directory import MakeDoctor
from tests.factories.openapi import form_of
from tests.factories.ownership import (
    ACTORS,
    ADMIN_ONLY,
    BODIES,
    ENTITLED,
    FACTORIES,
    FORMS,
    NOT_OBJECTS,
    PUBLIC_TOPICS,
    QUERY_IDS,
    TOPICS,
    UNLISTED,
    IdRoute,
    OwnerWorld,
    appointment_for,
    body_id_fields,
    id_routes,
    missing_factories,
    owner_world,
    private_words,
    query_id_routes,
    tried_actors,
)
from tests.factories.users import MakeUser, TokenFor
from tests.factories.web import Browser

# The API routes with an id in their path, and the administrators' routes, at the time of
# writing: the walk must find at least these (fewer means the walk lost routes, not that the
# application has fewer).
WITH_IDS = 37
ADMIN = 14
PAGES_WITH_IDS = 30


async def _ids(world: OwnerWorld, route: IdRoute) -> dict[str, str]:
    values = {}
    for name in route.parameters:
        if name == "appointment_id":
            values[name] = appointment_for(world, route.path)
        elif name in FACTORIES:
            if name not in world.made:
                world.made[name] = await FACTORIES[name](world)
            values[name] = world.made[name]
        elif name in ADMIN_ONLY:
            values[name] = str(uuid.uuid4())
        else:  # a public object: the owner doctor, the registry says so
            values[name] = str(world.people["owner_doctor"].user.id)
    return values


def _url(route: IdRoute, values: dict[str, str]) -> str:
    path = route.path
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    return path


def _expected(actor: str, route: IdRoute) -> set[int]:
    if actor == "anonymous":  # a page sends the visitor to sign in (or refuses a form without
        return {303, 403} if route.page else {401}  # the browser's form token)
    return {403} if route.admin else {403, 404}


Call = Callable[[IdRoute, str, str], Awaitable[httpx.Response]]
Leak = tuple[str, str, str, int, list[str], str]


def _api_call(world: OwnerWorld) -> Call:
    async def call(route: IdRoute, url: str, actor: str) -> httpx.Response:
        body = BODIES.get(f"{route.method} {route.path}")
        form = form_of(route.method, route.path, body)  # a form with files, or JSON
        payload: dict[str, Any] = {"json": body} if form is None else form
        return await world.client.request(
            route.method, url, headers=world.headers(actor), **payload
        )

    return call


def _page_call(browsers: dict[str, httpx.AsyncClient]) -> Call:
    async def call(route: IdRoute, url: str, actor: str) -> httpx.Response:
        browser = browsers[actor]
        if route.method == "GET":
            return await browser.get(url)
        form = {**FORMS.get(route.path, {}), "csrf_token": browser.cookies.get("cb_csrf", "")}
        return await browser.request(route.method, url, data=form)

    return call


async def _make_all(world: OwnerWorld) -> None:
    for name, factory in FACTORIES.items():
        if name not in world.made:
            world.made[name] = await factory(world)


async def _walk(
    world: OwnerWorld, routes: list[IdRoute], call: Call
) -> tuple[int, list[Leak], list[tuple[str, str, list[int]]]]:
    """Each route as each actor not entitled (every answer a refusal, nothing private in it),
    and as the entitled (not all refused: the object is there)."""
    await _make_all(world)  # every object is there before the first call
    tried, leaks, unreachable = 0, [], []
    for route in routes:
        url = _url(route, await _ids(world, route))
        # The caller sent the id in the path (a problem's ``instance`` names it): any
        # other id, or a private word, in the answer is a leak.
        secrets = [w for w in private_words(world) + list(world.made.values()) if w not in url]
        for actor in tried_actors(route):
            async with undone(world.database):
                answer = await call(route, url, actor)
            tried += 1
            leaked = [word for word in secrets if word in answer.text]
            wrong = answer.status_code not in _expected(actor, route)
            if answer.status_code == 303:  # only to the sign-in page
                wrong |= not answer.headers["location"].startswith("/signin")
            if wrong or leaked:
                hint = "add a valid body to BODIES (or FORMS)" if answer.status_code == 422 else ""
                leaks.append((route.method, route.path, actor, answer.status_code, leaked, hint))
        entitled = set(ACTORS).intersection(*(ENTITLED.get(name, ()) for name in route.parameters))
        if route.parameters and not route.admin and entitled:
            answers = []
            for actor in sorted(entitled):
                async with undone(world.database):
                    answers.append((await call(route, url, actor)).status_code)
            if all(status in (401, 403, 404) for status in answers):
                unreachable.append((route.method, route.path, answers))
    return tried, leaks, unreachable


@pytest.fixture
async def world(
    client: httpx.AsyncClient,
    database: Database,
    make_doctor: MakeDoctor,
    make_user: MakeUser,
    token_for: TokenFor,
) -> AsyncIterator[OwnerWorld]:
    yield await owner_world(client, database, make_doctor, make_user, token_for)
    await job_app.connector.execute_query_async(
        "DELETE FROM procrastinate_jobs WHERE queue_name IN "
        "('notifications', 'prescriptions', 'payments', 'scheduling')"
    )


def _report(
    kind: str,
    routes: list[IdRoute],
    tried: int,
    leaks: list[Leak],
    unreachable: list[tuple[str, str, list[int]]],
) -> None:
    admin = len([route for route in routes if route.admin])
    print(
        f"authorization matrix: {len(routes)} {kind} routes ({admin} administrators') x actors "
        f"= {tried} calls, {len(leaks)} leaks"
    )
    assert leaks == []
    assert unreachable == []


async def test_nobody_reaches_another_persons_object(app: FastAPI, world: OwnerWorld) -> None:
    routes = id_routes(app.routes)
    assert len([route for route in routes if route.parameters]) >= WITH_IDS
    assert len([route for route in routes if route.admin]) >= ADMIN
    assert missing_factories(routes) == []
    _report("API", routes, *await _walk(world, routes, _api_call(world)))


async def test_nobody_reaches_another_persons_object_on_pages(
    app: FastAPI, world: OwnerWorld, browser: Browser
) -> None:
    """The same walk over the web pages (and their downloads), each actor in a signed-in
    browser posting its own form token; a visitor is sent to sign in."""
    routes = id_routes(app.routes, pages=True)
    assert len([route for route in routes if route.parameters]) >= PAGES_WITH_IDS
    assert missing_factories(routes) == []
    browsers = {"anonymous": world.client}  # the world's client holds no cookie: a visitor
    for actor, person in world.people.items():
        browsers[actor] = await browser(person.user)
    _report("page", routes, *await _walk(world, routes, _page_call(browsers)))


@pytest.mark.parametrize("pages", [False, True], ids=["api", "pages"])
async def test_an_unlisted_doctor_is_not_found(
    app: FastAPI, world: OwnerWorld, browser: Browser, pages: bool
) -> None:
    """``doctor_id`` is public for a listed doctor only: every route that takes one (but the
    administrators') answers as if an unverified doctor did not exist, to everyone but them."""
    routes = [
        route
        for route in id_routes(app.routes, pages)
        if "doctor_id" in route.parameters and not route.admin
    ]
    assert len(routes) >= (7 if pages else 5)
    call = _api_call(world)
    if pages:
        browsers = {"anonymous": world.client}
        for actor, person in world.people.items():
            browsers[actor] = await browser(person.user)
        call = _page_call(browsers)
    refused = []
    for route in routes:
        url = route.path.replace("{doctor_id}", world.unlisted)
        for actor in ("owner_patient", "other_patient", "other_doctor", "nurse", "anonymous"):
            async with undone(world.database):
                answer = await call(route, url, actor)
            expected = _expected(actor, route) | {404}
            if answer.status_code not in expected or UNLISTED in answer.text:
                refused.append((route.method, route.path, actor, answer.status_code))
    assert refused == []


async def test_a_list_filtered_by_another_persons_id_shows_nothing_of_theirs(
    app: FastAPI, world: OwnerWorld
) -> None:
    """Ids in query strings: each names an owner's object (``QUERY_IDS``); called as everyone
    not entitled to the owner's objects, the answer holds none of them (an empty list, or a
    refusal), and anonymous callers get 401."""
    routes = query_id_routes(app.openapi())
    assert routes
    assert [name for _, _, name in routes if name not in QUERY_IDS] == [], "add it to QUERY_IDS"
    await _make_all(world)
    secrets = [*private_words(world), *world.made.values()]
    leaks = []
    for method, path, name in routes:
        value = world.made[QUERY_IDS[name]]
        for actor in ("other_patient", "other_doctor", "nurse", "anonymous"):
            answer = await world.client.request(
                method, path, params={name: value}, headers=world.headers(actor)
            )
            leaked = [word for word in secrets if word in answer.text]
            wrong = answer.status_code != 401 if actor == "anonymous" else answer.status_code >= 500
            if leaked or wrong:
                leaks.append((method, path, name, actor, answer.status_code, leaked))
        # The owner's doctor, entitled, finds the owner's object by the same filter (today's
        # only such filter lists prescriptions).
        own = await world.client.request(
            method, path, params={name: value}, headers=world.headers("owner_doctor")
        )
        assert world.made["prescription_id"] in own.text, own.text
    assert leaks == []


async def test_a_body_naming_another_persons_object_is_refused(
    app: FastAPI, world: OwnerWorld
) -> None:
    """Ids in request bodies: a field naming the owner's object (or, for ``doctor_id``, an
    unverified doctor, the only doctors not public) sent by everyone else is never accepted."""
    fields = body_id_fields(app.openapi())
    assert fields
    await _make_all(world)
    fields = [f for f in fields if f[2] not in NOT_OBJECTS]
    unknown = [f for f in fields if f[2] not in FACTORIES and f[2] != "doctor_id"]
    assert unknown == [], "add a factory for these fields to FACTORIES (or NOT_OBJECTS)"
    accepted = []
    for method, path, name in fields:
        value = world.unlisted if name == "doctor_id" else world.made[name]
        body = {**BODIES[f"{method} {path}"], name: value}
        for actor in ("owner_patient", "other_patient", "other_doctor", "nurse", "anonymous"):
            async with undone(world.database):
                answer = await world.client.request(
                    method, path, json=body, headers=world.headers(actor)
                )
            if answer.status_code < 400 or UNLISTED in answer.text:
                accepted.append((method, path, name, actor, answer.status_code))
        if name == "doctor_id":  # the same body naming a listed doctor is accepted
            async with undone(world.database):
                listed = {**body, name: str(world.people["owner_doctor"].user.id)}
                answer = await world.client.request(
                    method, path, json=listed, headers=world.headers("owner_patient")
                )
            assert answer.status_code < 300, answer.text
    assert accepted == []


async def test_nobody_subscribes_to_another_persons_topic(app: FastAPI, world: OwnerWorld) -> None:
    """Every registered real-time topic rule, asked with the owner's topic for each actor: only
    the entitled may subscribe; exact topics are public by declaration."""
    rules = list(HOOKS.rules)
    assert {rule.pattern for rule in rules} >= {"user.", "doctors.presence"}
    unknown = [
        r.pattern for r in rules if r.pattern not in TOPICS and r.pattern not in PUBLIC_TOPICS
    ]
    assert unknown == [], "add these topics to TOPICS (with a factory) or PUBLIC_TOPICS"
    await _make_all(world)
    wrong = []
    async with world.database.sessionmaker() as db:
        for rule in rules:
            if rule.pattern in PUBLIC_TOPICS:
                continue
            kind, entitled = TOPICS[rule.pattern]
            topic = rule.pattern + world.made[kind]
            for actor, person in world.people.items():
                identity = Identity(person.user.id, uuid.uuid4(), str(person.user.role))
                if await rule.authorize(db, identity, topic) != (actor in entitled):
                    wrong.append((topic, actor))
    assert wrong == []


def test_a_route_with_an_unknown_id_fails_the_walk(app: FastAPI) -> None:
    """A new route naming an object the registry does not know is reported with what to add;
    one naming a known object, or a public one, is not."""
    router = APIRouter(prefix="/api/v1/probe")

    @router.get("/lab-results/{lab_result_id}")
    async def lab_result(lab_result_id: str, actor: AnyUser) -> None:
        return None

    @router.get("/appointments/{appointment_id}/notes")
    async def notes(appointment_id: str, actor: AnyUser) -> None:
        return None

    @router.post("/admin/deliveries/{delivery_id}/again")
    async def again(delivery_id: str, actor: AdminActor) -> None:
        return None

    @router.get("/doctors/{doctor_id}/badge")
    async def badge(doctor_id: str, actor: AnyUser) -> None:
        return None

    app.include_router(router)
    probes = [route for route in id_routes(app.routes) if route.path.startswith("/api/v1/probe")]
    assert len(probes) == 4
    missing = missing_factories(probes)
    assert len(missing) == 1
    assert missing[0].startswith("GET /api/v1/probe/lab-results/{lab_result_id}: add a factory")
    assert "'lab_result_id' to FACTORIES" in missing[0]
    # An administrators' route is tried as every non-administrator; others as the unentitled.
    by_path = {route.path.rsplit("/", 1)[-1]: route for route in probes}
    assert by_path["again"].admin
    assert "nurse" in tried_actors(by_path["again"])
    assert set(tried_actors(by_path["notes"])) == {
        "other_patient",
        "other_doctor",
        "nurse",
        "anonymous",
    }


def test_a_page_with_an_unknown_id_fails_the_walk(app: FastAPI) -> None:
    """The same for a web page: found by the pages' walk, not the API's."""
    router = APIRouter()

    @router.get("/probe/lab-results/{lab_result_id}")
    async def lab_result_page(lab_result_id: str, actor: WebUser) -> None:
        return None

    app.include_router(router)
    pages = [route for route in id_routes(app.routes, pages=True) if "probe" in route.path]
    assert [route.page for route in pages] == [True]
    assert not [route for route in id_routes(app.routes) if "probe" in route.path]
    assert missing_factories(pages) == [
        "GET /probe/lab-results/{lab_result_id}: add a factory for 'lab_result_id' to FACTORIES "
        "and who may see it to ENTITLED in tests/factories/ownership.py (or declare it in PUBLIC "
        "with the reason)"
    ]
