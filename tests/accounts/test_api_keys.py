"""API keys: issued by admins, accepted only by routes that declare a scope beside their caller,
refused (401) everywhere else, their last use noted and shown to admins."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from sqlalchemy import update

from carebridge.accounts.api_keys import issue_key
from carebridge.accounts.models import ApiKey, Role, User
from carebridge.platform.access import anonymous, api_key_scope, declared_callers
from carebridge.platform.db import Database
from carebridge.web.session import web_visitor
from tests.factories import MakeUser, SignIn
from tests.factories.calendar import book, days_ahead, open_slots
from tests.factories.users import Headers
from tests.factories.web import Browser

ScheduledDoctor = Callable[..., Awaitable[tuple[User, Headers]]]

# Routes that accept an API key, with the scope it needs. Adding one is a decision: say in
# docs/security.md ("API keys") what a key sees there.
KEY_ROUTES = {
    ("GET", "/api/v1/appointments"): "appointments:read",
    ("GET", "/api/v1/doctors/{doctor_id}/slots"): "appointments:read",
}


def http_routes(app: FastAPI) -> Iterator[tuple[str, str, Dependant]]:
    """Every HTTP route of the application: method, path and resolved dependencies."""
    for context in iter_route_contexts(app.routes):
        dependant = getattr(context, "dependant", None)
        if isinstance(dependant, Dependant) and context.methods:
            for method in sorted(context.methods - {"HEAD"}):
                yield method, str(context.path_format), dependant


def key_routes(app: FastAPI) -> dict[tuple[str, str], str]:
    return {
        (method, path): scope
        for method, path, dependant in http_routes(app)
        if (scope := api_key_scope(dependant))
    }


def concrete(path: str) -> str:
    """``path`` with every path parameter filled with an id nobody has."""
    return path.format_map({name: uuid.uuid4() for name in _parameters(path)})


def _parameters(path: str) -> list[str]:
    return [part[1:-1].split(":")[0] for part in path.split("/") if part.startswith("{")]


async def make_key(
    database: Database, *scopes: str, expires_at: datetime | None = None
) -> tuple[uuid.UUID, dict[str, str]]:
    async with database.transaction() as db:
        row, key = await issue_key(db, "Clinic calendar", scopes, created_by=None)
        row.expires_at = expires_at
    return row.id, {"X-API-Key": key}


def test_the_routes_open_to_keys_are_exactly_the_declared_ones(app: FastAPI) -> None:
    assert key_routes(app) == KEY_ROUTES


async def test_every_key_route_refuses_a_key_lacking_its_scope(
    app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    # A key issued with a scope no route declares: valid, but holding none of the needed ones.
    _, headers = await make_key(database, "fhir:read")
    routes = key_routes(app)
    assert routes
    for (method, path), scope in routes.items():
        answer = await client.request(method, concrete(path), headers=headers)
        assert (answer.status_code, answer.json()["code"]) == (403, "missing_scope"), path
        assert scope in answer.json()["detail"]


async def test_every_other_api_route_refuses_a_key(
    app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    _, headers = await make_key(database, "appointments:read")
    tried = 0
    for method, path, dependant in http_routes(app):
        callers = declared_callers(dependant)
        if not path.startswith("/api/v1") or api_key_scope(dependant):
            continue
        if callers & {anonymous, web_visitor}:
            continue
        answer = await client.request(method, concrete(path), headers=headers)
        assert (answer.status_code, answer.json()["code"]) == (401, "api_key_not_accepted"), (
            f"{method} {path}"
        )
        tried += 1
    assert tried > 50


async def test_a_key_with_the_scope_lists_the_clinics_appointments(
    client: httpx.AsyncClient,
    database: Database,
    sign_in: SignIn,
    scheduled_doctor: ScheduledDoctor,
) -> None:
    doctor, doctor_headers = await scheduled_doctor()
    day = days_ahead(3)
    starts = (await open_slots(client, doctor_headers, doctor.id, day))[0]
    patient = await sign_in()
    booked = await book(client, patient.headers, doctor.id, starts, reason="private reason")
    assert booked.status_code == 201, booked.text
    _, headers = await make_key(database, "appointments:read")

    listed = await client.get("/api/v1/appointments", headers=headers)
    assert listed.status_code == 200, listed.text
    assert [item["id"] for item in listed.json()["items"]] == [booked.json()["id"]]
    assert "private reason" not in listed.text
    # The open slots a booking integration offers are the ones patients see.
    assert await open_slots(client, headers, doctor.id, day) == await open_slots(
        client, patient.headers, doctor.id, day
    )
    # The single read carries the reason for the visit: keys cannot call it.
    single = await client.get(f"/api/v1/appointments/{booked.json()['id']}", headers=headers)
    assert (single.status_code, single.json()["code"]) == (401, "api_key_not_accepted")


async def test_users_still_call_a_key_route_as_themselves(
    client: httpx.AsyncClient, sign_in: SignIn
) -> None:
    patient = await sign_in()
    mine = await client.get("/api/v1/appointments", headers=patient.headers)
    assert (mine.status_code, mine.json()["items"]) == (200, [])
    nobody = await client.get("/api/v1/appointments")
    assert (nobody.status_code, nobody.json()["code"]) == (401, "invalid_token")


@pytest.mark.parametrize("state", ["revoked", "expired"])
async def test_a_revoked_or_expired_key_is_refused(
    client: httpx.AsyncClient, database: Database, sign_in: SignIn, state: str
) -> None:
    key_id, headers = await make_key(database, "appointments:read")
    assert (await client.get("/api/v1/appointments", headers=headers)).status_code == 200
    if state == "revoked":
        admin = await sign_in(Role.admin)
        gone = await client.delete(f"/api/v1/admin/api-keys/{key_id}", headers=admin.headers)
        assert gone.status_code == 204
    else:
        async with database.transaction() as db:
            past = datetime.now(UTC) - timedelta(seconds=1)
            await db.execute(update(ApiKey).where(ApiKey.id == key_id).values(expires_at=past))
    refused = await client.get("/api/v1/appointments", headers=headers)
    assert (refused.status_code, refused.json()["code"]) == (401, "invalid_api_key")


async def test_bad_keys_are_refused(client: httpx.AsyncClient, database: Database) -> None:
    _, headers = await make_key(database, "appointments:read")
    key = headers["X-API-Key"]
    for bad in ["cbk_nope", key[:-2] + "xx", "Bearer " + key, "cbk_" + uuid.uuid4().hex + "_x"]:
        answer = await client.get("/api/v1/appointments", headers={"X-API-Key": bad})
        assert (answer.status_code, answer.json()["code"]) == (401, "invalid_api_key"), bad


async def test_admin_issues_a_key_shown_once_and_sees_its_last_use(
    client: httpx.AsyncClient, sign_in: SignIn
) -> None:
    admin = await sign_in(Role.admin)
    created = await client.post(
        "/api/v1/admin/api-keys",
        headers=admin.headers,
        json={"name": "City Clinic calendar", "scopes": ["appointments:read"]},
    )
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    assert key.startswith(f"cbk_{created.json()['prefix']}_")
    before = (await client.get("/api/v1/admin/api-keys", headers=admin.headers)).json()
    assert key not in str(before)
    assert (before[0]["last_used_at"], before[0]["last_used_ip"]) == (None, None)

    used = await client.get("/api/v1/appointments", headers={"X-API-Key": key})
    assert used.status_code == 200, used.text
    after = (await client.get("/api/v1/admin/api-keys", headers=admin.headers)).json()
    assert after[0]["last_used_at"] is not None
    assert after[0]["last_used_ip"] == "127.0.0.1"


async def test_only_declared_scopes_are_issued_and_only_by_admins(
    client: httpx.AsyncClient, sign_in: SignIn
) -> None:
    admin = await sign_in(Role.admin)
    for scopes in (["everything"], ["records:read"], []):
        invalid = await client.post(
            "/api/v1/admin/api-keys", headers=admin.headers, json={"name": "X", "scopes": scopes}
        )
        assert invalid.status_code == 422, scopes
    patient = await sign_in()
    denied = await client.post(
        "/api/v1/admin/api-keys",
        headers=patient.headers,
        json={"name": "Mine", "scopes": ["appointments:read"]},
    )
    assert denied.status_code == 403


async def test_the_admin_page_shows_each_keys_last_use(
    client: httpx.AsyncClient, database: Database, make_user: MakeUser, browser: Browser
) -> None:
    used_id, used = await make_key(database, "appointments:read")
    idle_id, _ = await make_key(database, "appointments:read")
    assert (await client.get("/api/v1/appointments", headers=used)).status_code == 200
    admin = await browser(await make_user(Role.admin))

    page = await admin.get("/admin/api-keys")
    assert page.status_code == 200
    rows = dict(re.findall(r'<tr id="api-key-([0-9a-f-]+)">(.*?)</tr>', page.text, re.S))
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert f'<td class="last-used">{today} ' in rows[str(used_id)]
    assert '<td class="last-ip">127.0.0.1</td>' in rows[str(used_id)]
    assert '<td class="last-used">never</td>' in rows[str(idle_id)]
    patient = await browser(await make_user(Role.patient))
    assert (await patient.get("/admin/api-keys")).status_code == 403
