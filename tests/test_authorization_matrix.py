"""Nobody reaches another person's object through an id in the path: the object-level
authorization matrix, generated from the application's routes.

Every API route with a path parameter naming an object is called with an object of the owner's
world (``tests/factories/ownership.py``: one factory per parameter, and who the domain's policy
entitles to see it) as each actor kind that is not entitled: another patient, a doctor without
a relationship, a nurse, an administrator where the policy does not let them see it, anonymous.
Each must answer 404 (401 anonymous, 403 where the route refuses the role), never 2xx, and never
the owner's private words or ids. Every administrators' route is called as every
non-administrator: 403. An entitled actor's call of the same route must not answer 404, so the
refusals are about the caller, not a missing object. A route whose parameter the registry does
not know fails the walk with what to add.
"""

from __future__ import annotations

import uuid

import httpx
from fastapi import APIRouter, FastAPI

from carebridge.accounts.actors import AdminActor, AnyUser
from carebridge.platform.db import Database
from carebridge.platform.jobs import job_app
from tests.factories.databases import undone
from tests.factories.directory import MakeDoctor
from tests.factories.ownership import (
    ACTORS,
    ADMIN_ONLY,
    BODIES,
    ENTITLED,
    FACTORIES,
    IdRoute,
    OwnerWorld,
    id_routes,
    missing_factories,
    owner_world,
    private_words,
    tried_actors,
)
from tests.factories.users import MakeUser, TokenFor

# The API routes with an id in their path, and the administrators' routes, at the time of
# writing: the walk must find at least these (fewer means the walk lost routes, not that the
# application has fewer).
WITH_IDS = 37
ADMIN = 14


async def _ids(world: OwnerWorld, route: IdRoute) -> dict[str, str]:
    values = {}
    for name in route.parameters:
        if name in FACTORIES:
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
    if actor == "anonymous":
        return {401}
    return {403} if route.admin else {403, 404}


async def _call(world: OwnerWorld, route: IdRoute, url: str, actor: str) -> httpx.Response:
    async with undone(world.database):
        return await world.client.request(
            route.method,
            url,
            headers=world.headers(actor),
            json=BODIES.get(f"{route.method} {route.path}"),
        )


async def test_nobody_reaches_another_persons_object(
    app: FastAPI,
    client: httpx.AsyncClient,
    database: Database,
    make_doctor: MakeDoctor,
    make_user: MakeUser,
    token_for: TokenFor,
) -> None:
    routes = id_routes(app.routes)
    assert len([route for route in routes if route.parameters]) >= WITH_IDS
    assert len([route for route in routes if route.admin]) >= ADMIN
    assert missing_factories(routes) == []
    world = await owner_world(client, database, make_doctor, make_user, token_for)
    tried, leaks, unreachable = 0, [], []
    try:
        for route in routes:
            url = _url(route, await _ids(world, route))
            # The caller sent the id in the path (a problem's ``instance`` names it): any
            # other id, or a private word, in the answer is a leak.
            secrets = [w for w in private_words(world) + list(world.made.values()) if w not in url]
            for actor in tried_actors(route):
                answer = await _call(world, route, url, actor)
                tried += 1
                leaked = [word for word in secrets if word in answer.text]
                if answer.status_code not in _expected(actor, route) or leaked:
                    hint = "add a valid body to BODIES" if answer.status_code == 422 else ""
                    leaks.append(
                        (route.method, route.path, actor, answer.status_code, leaked, hint)
                    )
            entitled = set(ACTORS).intersection(
                *(ENTITLED.get(name, ()) for name in route.parameters)
            )
            if route.parameters and not route.admin and entitled:
                answers = [(await _call(world, route, url, a)).status_code for a in entitled]
                if all(status in (401, 403, 404) for status in answers):
                    unreachable.append((route.method, route.path, answers))
    finally:
        await job_app.connector.execute_query_async(
            "DELETE FROM procrastinate_jobs WHERE queue_name IN "
            "('notifications', 'prescriptions', 'payments', 'scheduling')"
        )
    admin = len([route for route in routes if route.admin])
    print(
        f"authorization matrix: {len(routes)} API routes ({admin} administrators') x actors "
        f"= {tried} calls, {len(leaks)} leaks"
    )
    for leak in leaks:
        print(leak)
    assert leaks == []
    assert unreachable == []


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
