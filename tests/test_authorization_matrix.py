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
with what to add. The same for ids in query strings, in API bodies (at any depth) and in page
forms (posted by everyone else with the owner's ids: no row naming the owner's objects changes);
real-time topics are checked here by their rules and over real sockets in
``tests/realtime/test_topic_matrix.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Form
from fastapi.dependencies.models import Dependant
from pydantic import BaseModel
from sqlalchemy import update
from starlette.responses import Response

from carebridge.accounts.actors import AdminActor, AnyUser
from carebridge.platform.access import endpoints
from carebridge.platform.db import Database
from carebridge.platform.deps import Session
from carebridge.platform.jobs import job_app
from carebridge.platform.realtime.topics import HOOKS, Identity
from carebridge.scheduling.models import Appointment
from carebridge.web.callers import WebUser
from carebridge.web.forms import FormModel
from carebridge.web.session import Csrf, check_csrf_header
from tests.factories.databases import snapshot, undone
from tests.factories.directory import MakeDoctor
from tests.factories.openapi import form_of
from tests.factories.ownership import (
    ACTORS,
    ADMIN_ONLY,
    BODIES,
    ENTITLED,
    FACTORIES,
    FORM_IDS,
    FORMS,
    NOT_OBJECTS,
    PUBLIC_TOPICS,
    QUERY_FINDS,
    QUERY_IDS,
    TOPICS,
    UNLISTED,
    BodyId,
    FieldPath,
    IdRoute,
    OwnerWorld,
    PageForm,
    appointment_for,
    body_id_fields,
    field_value,
    id_routes,
    make_all,
    missing_factories,
    missing_form_factories,
    missing_topics,
    object_of_field,
    owner_ids,
    owner_world,
    page_forms,
    placed,
    private_words,
    query_id_routes,
    tried_actors,
)
from tests.factories.users import MakeUser, TokenFor
from tests.factories.web import Browser, form_token

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


def _scripts_endpoints(app: FastAPI) -> set[str]:
    """The page routes scripts post JSON to: their CSRF token comes in a header."""

    def checks_header(dependant: Dependant) -> bool:
        return dependant.call is check_csrf_header or any(
            checks_header(sub) for sub in dependant.dependencies
        )

    return {path for path, dependant in endpoints(app.routes) if checks_header(dependant)}


def _page_call(browsers: dict[str, httpx.AsyncClient], scripts: set[str]) -> Call:
    tokens: dict[str, str] = {}  # each browser's form token, bound to its session

    async def call(route: IdRoute, url: str, actor: str) -> httpx.Response:
        browser = browsers[actor]
        if route.method == "GET":
            return await browser.get(url)
        if actor not in tokens:
            tokens[actor] = await form_token(browser)
        if route.path in scripts:  # JSON with the token in a header, the API's body
            body = BODIES.get(f"{route.method} /api/v1{route.path}", {})
            header = {"X-CSRF-Token": tokens[actor]}
            return await browser.request(route.method, url, json=body, headers=header)
        form = {**FORMS.get(route.path, {}), "csrf_token": tokens[actor]}
        return await browser.request(route.method, url, data=form)

    return call


async def _walk(
    world: OwnerWorld, routes: list[IdRoute], call: Call
) -> tuple[int, list[Leak], list[tuple[str, str, list[int]]]]:
    """Each route as each actor not entitled (every answer a refusal, nothing private in it),
    and as the entitled (not all refused: the object is there)."""
    await make_all(world)  # every object is there before the first call
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
            if answer.status_code == 303:  # only to the sign-in page, or the patient's own
                # address of a clinician's record page to their own page (web/records.py)
                to = answer.headers["location"]
                mine = route.path.startswith("/patients/{patient_id}/record")
                if actor == "owner_patient" and mine and to.startswith("/records"):
                    wrong = False
                else:
                    wrong |= not to.startswith("/signin")
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


async def _browsers(world: OwnerWorld, browser: Browser) -> dict[str, httpx.AsyncClient]:
    """A signed-in browser of each person of the world; the world's client is the visitor."""
    browsers = {"anonymous": world.client}  # the world's client holds no session cookie
    for actor, person in world.people.items():
        browsers[actor] = await browser(person.user)
    return browsers


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
    browsers = await _browsers(world, browser)
    call = _page_call(browsers, _scripts_endpoints(app))
    _report("page", routes, *await _walk(world, routes, call))


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
    browsers = await _browsers(world, browser) if pages else {}
    call = _page_call(browsers, _scripts_endpoints(app)) if pages else _api_call(world)
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
    await make_all(world)
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
        # The entitled caller finds the owner's object by the same filter.
        entitled, found = QUERY_FINDS[name]
        own = await world.client.request(
            method, path, params={name: value}, headers=world.headers(entitled)
        )
        assert world.made[found] in own.text, own.text
    assert leaks == []


# Who sends a body naming the owner's object: everyone the object's policy does not entitle.
BODY_ACTORS = ("owner_patient", "other_patient", "other_doctor", "nurse", "anonymous")


def _body_actors(name: str) -> list[str]:
    kind = object_of_field(name)
    entitled = ENTITLED.get(kind, frozenset()) if kind else frozenset()
    return [actor for actor in BODY_ACTORS if actor not in entitled]


async def _body_walk(
    world: OwnerWorld, fields: list[BodyId]
) -> tuple[int, list[tuple[str, str, FieldPath, str, int]]]:
    """Each field set to the owner's object in its place of the route's valid body, sent by
    everyone not entitled to it: what was accepted (or answered with the owner's words)."""
    tried, accepted = 0, []
    for field in fields:
        value = field_value(world, field.name)
        body = placed(BODIES[f"{field.method} {field.path}"], field.at, value)
        secrets = [word for word in private_words(world) if word != value]
        for actor in _body_actors(field.name):
            async with undone(world.database):
                answer = await world.client.request(
                    field.method, field.path, json=body, headers=world.headers(actor)
                )
            tried += 1
            if answer.status_code < 400 or any(word in answer.text for word in secrets):
                accepted.append((field.method, field.path, field.at, actor, answer.status_code))
    return tried, accepted


async def test_a_body_naming_another_persons_object_is_refused(
    app: FastAPI, world: OwnerWorld
) -> None:
    """Ids in request bodies, at any depth (nested objects, array items): a field naming the
    owner's object (or, for ``doctor_id``, an unverified doctor, the only doctors not public)
    sent by everyone else is never accepted."""
    fields = body_id_fields(app.openapi())
    assert fields
    await make_all(world)
    fields = [field for field in fields if field.name not in NOT_OBJECTS]
    unknown = [field for field in fields if object_of_field(field.name) is None]
    assert unknown == [], (
        "add a factory for these fields to FACTORIES (or map them in FORM_IDS, or NOT_OBJECTS)"
    )
    tried, accepted = await _body_walk(world, fields)
    for field in fields:
        if field.name == "doctor_id":  # the same body naming a listed doctor is accepted
            async with undone(world.database):
                body = placed(BODIES[f"{field.method} {field.path}"], field.at, world.unlisted)
                listed = placed(body, field.at, str(world.people["owner_doctor"].user.id))
                answer = await world.client.request(
                    field.method, field.path, json=listed, headers=world.headers("owner_patient")
                )
            assert answer.status_code < 300, answer.text
    print(f"authorization matrix: {len(fields)} body id fields x actors = {tried} calls")
    assert accepted == []


class ProbeLine(BaseModel):
    appointment_id: uuid.UUID
    dose: str = ""


class ProbeVisit(BaseModel):
    """A probe's body naming an appointment inside an array of objects."""

    lines: list[ProbeLine]


async def test_a_nested_body_id_without_the_policy_is_caught(
    app: FastAPI, world: OwnerWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A route reading the appointment a nested field names without asking the policy is
    found by the body walk and caught for everyone not entitled to the appointment."""
    router = APIRouter(prefix="/api/v1/probe")

    @router.post("/visits")
    async def visit(body: ProbeVisit, actor: AnyUser, db: Session) -> dict[str, str]:
        row = await db.get(Appointment, body.lines[0].appointment_id)  # the policy forgotten
        return {"status": row.status if row else "none"}

    app.include_router(router)
    app.openapi_schema = None
    fields = [f for f in body_id_fields(app.openapi()) if f.path == "/api/v1/probe/visits"]
    assert [(field.at, field.name) for field in fields] == [
        (("lines", 0, "appointment_id"), "appointment_id")
    ]
    monkeypatch.setitem(BODIES, "POST /api/v1/probe/visits", {"lines": [{"dose": "1"}]})
    await make_all(world)
    tried, accepted = await _body_walk(world, fields)
    assert tried == 4  # anonymous is refused by the caller: 401
    assert sorted(actor for *_, actor, _ in accepted) == ["nurse", "other_doctor", "other_patient"]


def test_ids_nested_in_bodies_are_found() -> None:
    """The body walk finds ids in nested objects, in array items (of objects and of plain
    uuids), behind references and in ``anyOf`` branches; a recursive schema ends."""
    uuid_field = {"type": "string", "format": "uuid"}
    schemas = {
        "Line": {
            "type": "object",
            "properties": {"medication_id": {"type": "string"}, "dose": {"type": "string"}},
        },
        "Visit": {
            "type": "object",
            "properties": {
                "lines": {"type": "array", "items": {"$ref": "#/components/schemas/Line"}},
                "contact": {"anyOf": [{"$ref": "#/components/schemas/Contact"}, {"type": "null"}]},
                "attendees": {"type": "array", "items": uuid_field},
                "follow_up": {"$ref": "#/components/schemas/Visit"},
                "note": {"type": "string"},
            },
        },
        "Contact": {"type": "object", "properties": {"person": uuid_field}},
    }
    openapi = {
        "components": {"schemas": schemas},
        "paths": {
            "/api/v1/probe/visits": {
                "post": {
                    "requestBody": {
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Visit"}}
                        }
                    }
                }
            }
        },
    }
    found = {(field.at, field.name) for field in body_id_fields(openapi)}
    assert found == {
        (("lines", 0, "medication_id"), "medication_id"),
        (("contact", "person"), "person"),
        (("attendees", 0), "attendees"),
    }  # the follow-up is a Visit again, the reference already being walked: not walked twice
    body = {"lines": [{"dose": "1"}, {"dose": "2"}], "note": "x"}
    assert placed(body, ("lines", 0, "medication_id"), "m") == {
        "lines": [{"dose": "1", "medication_id": "m"}, {"dose": "2"}],
        "note": "x",
    }
    assert placed(body, ("contact", "person"), "p")["contact"] == {"person": "p"}
    assert placed({}, ("attendees", 0), "a") == {"attendees": ["a"]}
    assert body == {"lines": [{"dose": "1"}, {"dose": "2"}], "note": "x"}  # left as it was


class LabForm(FormModel):
    """A probe's form naming an object the registry does not know."""

    lab_result_id: str = ""
    comment: str = ""


# The owner's side: a form posted by them may change their own objects.
OWNER_SIDE = ("owner_patient", "owner_doctor")


def _form_actors(form: PageForm) -> list[str]:
    """Who posts the form: for a route naming an object in its path, everyone not entitled to
    it (the administrators' routes: every non-administrator); for the others, everyone outside
    the owner's side."""
    if form.parameters or form.admin:
        return tried_actors(form.route)
    return [actor for actor in ACTORS if actor not in OWNER_SIDE]


async def _post_form(
    browser: httpx.AsyncClient, database: Database, url: str, data: dict[str, str], ids: list[str]
) -> tuple[httpx.Response, dict[str, str]]:
    """The form posted (undone afterwards), and the digest of the rows naming the owner's
    objects as the post left them. The browser keeps its cookies (a post may sign it out)."""
    jar = httpx.Cookies(browser.cookies)
    try:
        async with undone(database):
            answer = await browser.post(url, data=data)
            return answer, await snapshot(database, ids)
    finally:
        browser.cookies = jar


Wrong = tuple[str, str, str, str, int, list[str]]


async def _form_walk(
    world: OwnerWorld, forms: list[PageForm], browsers: dict[str, httpx.AsyncClient]
) -> tuple[int, list[Wrong]]:
    """Each page form posted by each other actor with the owner's ids in its fields: each
    declared id field alone, and every object name the form does not declare all at once (a
    handler may read the raw form). Nothing naming the owner's objects may change, and the
    answer holds none of their private words (nor an id the caller did not send)."""
    await make_all(world)
    ids = owner_ids(world)
    before = await snapshot(world.database, ids)
    names = [*FACTORIES, *FORM_IDS, "doctor_id"]
    tokens = {actor: await form_token(client) for actor, client in browsers.items()}
    tried, wrong = 0, []
    for form in forms:
        url = _url(form.route, await _ids(world, form.route))
        base = FORMS.get(form.path, {})
        undeclared = {n: field_value(world, n) for n in names if n not in form.fields}
        posts = [("undeclared ids", {**base, **undeclared}, "")]
        for name in form.id_fields:
            value = field_value(world, name)
            posts.append((name, {**base, name: value}, value))
        for actor in _form_actors(form):
            for what, data, sent in posts:
                answer, after = await _post_form(
                    browsers[actor],
                    world.database,
                    url,
                    {**data, "csrf_token": tokens[actor]},
                    ids,
                )
                tried += 1
                secrets = [w for w in private_words(world) + ids if w not in url and w != sent]
                seen = answer.text + answer.headers.get("location", "")
                leaked = [word for word in secrets if word in seen]
                changed = sorted(t for t in after if after[t] != before[t] and t != "audit_events")
                failed = answer.status_code >= 500
                if form.parameters or form.admin:
                    failed |= answer.status_code not in _expected(actor, form.route)
                if leaked or changed or failed:
                    detail = leaked + [f"changed {table}" for table in changed]
                    wrong.append((form.path, what, actor, url, answer.status_code, detail))
    return tried, wrong


async def test_a_form_naming_another_persons_object_changes_nothing(
    app: FastAPI, world: OwnerWorld, browser: Browser
) -> None:
    """Ids in page forms: every page route taking a form, posted by every other actor in a
    signed-in browser (with its own form token) with the owner's objects in its id fields,
    changes no row naming the owner's objects and shows nothing of theirs."""
    forms = page_forms(app.routes)
    assert len(forms) >= 35, [f"{form.method} {form.path}" for form in forms]
    assert missing_form_factories(forms) == []
    tried, wrong = await _form_walk(world, forms, await _browsers(world, browser))
    declared = sum(len(form.id_fields) for form in forms)
    print(
        f"authorization matrix: {len(forms)} page forms ({declared} declared id fields) x "
        f"actors = {tried} posts, {len(wrong)} wrong"
    )
    assert wrong == []


async def test_a_form_field_naming_an_unknown_or_unguarded_object_fails_the_walk(
    app: FastAPI, world: OwnerWorld, browser: Browser
) -> None:
    """A form field naming an object the registry does not know is reported with what to add;
    a form whose handler changes the object its field names without asking the policy is
    caught changing the owner's rows."""
    router = APIRouter()

    @router.post("/probe/lab-results", dependencies=[Csrf])
    async def lab(actor: WebUser, form: Annotated[LabForm, Form()]) -> Response:
        return Response(status_code=204)

    @router.post("/probe/cancel", dependencies=[Csrf])
    async def cancel(
        actor: WebUser, db: Session, appointment_id: Annotated[uuid.UUID, Form()]
    ) -> Response:
        # Loads by id and changes it: the policy forgotten.
        await db.execute(
            update(Appointment)
            .where(Appointment.id == appointment_id)
            .values(cancel_reason="Cancelled through someone else's form")
        )
        return Response(status_code=204)

    app.include_router(router)
    probes = [form for form in page_forms(app.routes) if form.path.startswith("/probe")]
    assert {(form.path, form.id_fields) for form in probes} == {
        ("/probe/lab-results", ("lab_result_id",)),
        ("/probe/cancel", ("appointment_id",)),
    }
    assert missing_form_factories(probes) == [
        "POST /probe/lab-results: the form field 'lab_result_id' names an object: add a factory "
        "for it to FACTORIES (and who may see it to ENTITLED), or map the field to one in "
        "FORM_IDS, in tests/factories/ownership.py"
    ]
    cancel_form = [form for form in probes if form.path == "/probe/cancel"]
    tried, wrong = await _form_walk(world, cancel_form, await _browsers(world, browser))
    # Every signed-in actor outside the owner's side changed the owner's appointment; the
    # anonymous browser was sent to sign in.
    assert tried == 2 * 5
    assert sorted({actor for _, what, actor, *_ in wrong if what == "appointment_id"}) == [
        "admin",
        "nurse",
        "other_doctor",
        "other_patient",
    ]
    assert all("changed appointments" in detail for *_, detail in wrong)


async def test_nobody_subscribes_to_another_persons_topic(app: FastAPI, world: OwnerWorld) -> None:
    """Every registered real-time topic rule, asked with the owner's topic for each actor: only
    the entitled may subscribe; exact topics are public by declaration."""
    rules = list(HOOKS.rules)
    assert {rule.pattern for rule in rules} >= {"user.", "doctors.presence"}
    assert missing_topics([rule.pattern for rule in rules]) == []
    await make_all(world)
    wrong = []
    async with world.database.sessionmaker() as db:
        for rule in rules:
            if rule.pattern in PUBLIC_TOPICS:
                continue
            kind, entitled = TOPICS[rule.pattern]
            topic = rule.pattern + world.made[kind]
            for actor, person in world.people.items():
                identity = Identity(
                    person.user.id,
                    uuid.uuid4(),
                    str(person.user.role),
                    str(person.user.status),
                )
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
