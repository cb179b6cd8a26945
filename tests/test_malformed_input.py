"""Malformed input never gets a server error. Generated from the OpenAPI document: for every
operation, every string, integer, number, date, time, date-time and cursor it takes (a path or
query parameter, or a field of its JSON body, however deep) is sent with the values that once
reached PostgreSQL or Python's date arithmetic and failed there as a 500: a NUL character,
integers past the database's range, times at the edges of the calendar with a UTC offset,
wall-clock times with an offset, and cursors holding any of these. Each must answer a 4xx
problem+json.

To reach the service with the bad value, each operation starts from a baseline request built from
its schema (names the schema cannot give a valid value for are in ``_EXAMPLES``) and the ids of a
small world (a doctor with a schedule, a patient with an upcoming and a completed appointment, a
prescription, a review, an admin, a nurse), sent as the first role the route accepts. The test
also checks that baseline is accepted as valid input, so a new route whose baseline the schema
cannot give fails here until ``_EXAMPLES`` learns its field: otherwise its bad values would be
refused for the wrong reason and prove nothing.
"""

from __future__ import annotations

import base64
import json
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx
import jwt
import pytest
from sqlalchemy import select

from carebridge.accounts.models import Role, User
from carebridge.app import create_app
from carebridge.notifications.models import Notification
from carebridge.platform.access import anonymous, declared_callers, endpoints
from carebridge.platform.db import Database
from carebridge.platform.jobs import job_app
from carebridge.platform.problems import PROBLEM_MEDIA_TYPE
from carebridge.scheduling.models import Appointment
from tests.factories import PASSWORD, MakeUser, TokenFor
from tests.factories.scheduling import next_weekday
from tests.factories.settings import make_settings

Json = dict[str, Any]
Location = tuple[str | int, ...]  # ("body", "lines", 0, "name"), ("query", "from"), ...

_APP = create_app(
    make_settings(Path(tempfile.mkdtemp()), database_url="postgresql://unused@localhost/none")
)
_DOC: Json = _APP.openapi()
PUBLIC_PATHS = {
    path for path, dependant in endpoints(_APP.routes) if anonymous in declared_callers(dependant)
}
_SCHEMAS: Json = _DOC["components"]["schemas"]
OPERATIONS = [
    (method.upper(), path)
    for path, operations in _DOC["paths"].items()
    for method in operations
    if method in ("get", "post", "put", "patch", "delete")
]
BERLIN = ZoneInfo("Europe/Berlin")


# -- the bad values ----------------------------------------------------------------------------

BAD_INTEGERS = [2**31, 2**63, 10**20, -(2**63) - 1]
BAD_NUMBERS = [1e308, -1e308]
BAD_INSTANTS = [
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59-14:00",
    "9999-12-31T23:59:59Z",
]
BAD_DATES = ["0001-01-01", "9999-12-31"]
BAD_TIMES = ["10:00:00+14:00", "23:59:59-14:00"]


def _cursor(data: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


_ROW = str(uuid.uuid4())
BAD_CURSORS = [
    *(_cursor({"t": t, "i": _ROW}) for t in BAD_INSTANTS),
    _cursor({"t": "2026-01-01T00:00:00\x00", "i": _ROW}),
    _cursor({"t": "2026-01-01T00:00:00", "i": _ROW}),  # no offset
    _cursor({"t": "2026-01-01T00:00:00Z", "i": "a\x00b"}),
    _cursor({"s": "name", "k": "a\x00b", "i": _ROW}),
    *(_cursor({"s": "fee", "k": n, "i": _ROW}) for n in BAD_INTEGERS),
    _cursor({"s": "relevance", "k": float("nan"), "i": _ROW}),
    _cursor({"s": "rating", "k": float("inf"), "i": _ROW}),
    _cursor({"s": "name", "k": ["nested"], "i": _ROW}),
    _cursor([1]),
    "not base64 at all!",
]


def bad_values(schema: Json, name: str | int, valid: Any) -> list[Any]:
    """The bad values for a leaf of this schema whose valid value is ``valid`` (a NUL is added
    to it, so that it passes the field's other rules: a URL stays a URL)."""
    if name == "cursor":
        return BAD_CURSORS
    kind, shape = schema.get("type"), schema.get("format")
    if kind == "integer":
        return BAD_INTEGERS
    if kind == "number":
        return BAD_NUMBERS
    if kind != "string":
        return []
    special = {"date-time": BAD_INSTANTS, "date": BAD_DATES, "partial-time": BAD_TIMES}
    return [f"{valid}\x00b", *special.get(shape, [])]


# -- walking the schemas -----------------------------------------------------------------------


def resolve(schema: Json) -> Json:
    while "$ref" in schema:
        schema = _SCHEMAS[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def concrete(schema: Json) -> Json:
    """The schema without ``$ref`` and without the ``null`` of an optional value."""
    schema = resolve(schema)
    for union in ("anyOf", "oneOf"):
        if union in schema:
            members = [resolve(s) for s in schema[union] if resolve(s).get("type") != "null"]
            return concrete(members[0])
    return schema


def leaves(schema: Json, at: Location) -> Iterator[tuple[Location, Json]]:
    """Every scalar in a body of ``schema``, with its location."""
    schema = concrete(schema)
    if schema.get("type") == "object":
        for name, sub in schema.get("properties", {}).items():
            yield from leaves(sub, (*at, name))
    elif schema.get("type") == "array":
        yield from leaves(schema.get("items", {}), (*at, 0))
    else:
        yield at, schema


# -- the world ---------------------------------------------------------------------------------


@dataclass
class World:
    ids: dict[str, str]  # id field or path parameter -> an object the caller may act on
    users: dict[str, User]  # by role
    free_slot: str  # a time the doctor can be booked at
    completed: str = ""  # a past appointment (prescriptions and reviews follow one)


def _at(weekday: int, hour: int) -> str:
    return datetime.combine(next_weekday(weekday), time(hour), tzinfo=BERLIN).isoformat()


# Values the schema alone cannot make valid, by field name (the world's ids are added per test).
_EXAMPLES: dict[str, Any] = {
    "password": PASSWORD,
    "new_email": "malformed-new@clinic.example",
    "current_password": PASSWORD,
    "new_password": "another-sturdy-lantern-93",
    "time_zone": "Europe/Berlin",
    "locale": "en",
    "phone": "+14155550123",
    "languages": "en",
    "language": "en",
    "currency": "EUR",
    "photo_url": "https://photos.example.org/doctor.jpg",
    "endpoint": "https://push.example.org/send/abcdef",
    "p256dh": "B" + "A" * 86,
    "auth": "AAAAAAAAAAAAAAAAAAAAAA",
    "scopes": "fhir:read",
    "specialties": "cardiology",
    "starts": "10:00:00",
    "ends": "11:00:00",
    "date": next_weekday(4).isoformat(),
    "date_of_birth": "1990-05-17",
    "from": datetime.now(UTC).isoformat(),
    "to": (datetime.now(UTC) + timedelta(days=7)).isoformat(),
    "mfa_token": "x" * 40,
    "token": "x" * 43,
    "code": "123456",
    "limit": 10,
    "rating": 4,
}


def example(schema: Json, name: str | int, world: World) -> Any:
    """A valid value for ``schema`` (every property of an object, optional ones too, so that
    each can be made bad in turn)."""
    schema = concrete(schema)
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object":
        properties = schema.get("properties", {})
        return {key: example(sub, key, world) for key, sub in properties.items()}
    if kind == "array":
        return [example(schema.get("items", {}), name, world)]
    if name in world.ids:
        return world.ids[name]
    if name in _EXAMPLES:
        return _EXAMPLES[name]
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 1))
    if kind == "boolean":
        return True
    return _example_text(schema, world)


def _example_text(schema: Json, world: World) -> str:
    shape = schema.get("format")
    if shape == "date-time":
        return world.free_slot
    if shape == "email":
        return f"malformed-{uuid.uuid4().hex[:8]}@clinic.example"
    if shape == "uuid":
        return str(uuid.uuid4())
    return "Checked words".ljust(int(schema.get("minLength", 0)), "x")


@pytest.fixture
async def world(
    client: httpx.AsyncClient,
    database: Database,
    make_user: MakeUser,
    token_for: TokenFor,
    scheduled_doctor: Any,
) -> World:
    doctor, doctor_headers = await scheduled_doctor()
    patient, admin, nurse = [
        await make_user(role) for role in (Role.patient, Role.admin, Role.nurse)
    ]
    patient_headers, admin_headers = await token_for(patient), await token_for(admin)
    booked = await client.post(
        "/api/v1/appointments",
        json={"doctor_id": str(doctor.id), "starts_at": _at(2, 11), "type": "video"},
        headers=patient_headers,
    )
    assert booked.status_code == 201, booked.text
    past = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    completed = Appointment(
        doctor_id=doctor.id,
        patient_id=patient.id,
        type="video",
        status="completed",
        starts_at=past,
        ends_at=past + timedelta(minutes=30),
        blocked_until=past + timedelta(minutes=30),
        time_zone="UTC",
        fee=0,
    )
    async with database.transaction() as db:
        db.add(completed)
    made = {
        "prescription_id": await _made(
            client,
            f"/api/v1/appointments/{completed.id}/prescriptions",
            {"diagnosis": "Sprain", "lines": [{"name": "Ibuprofen", "dose": "1 tablet"}]},
            doctor_headers,
        ),
        "review_id": await _made(
            client, f"/api/v1/appointments/{completed.id}/review", {"rating": 5}, patient_headers
        ),
        "exception_id": await _made(
            client,
            "/api/v1/doctors/me/exceptions",
            {"kind": "time_off", "date": next_weekday(5).isoformat()},
            doctor_headers,
        ),
        "key_id": await _made(
            client,
            "/api/v1/admin/api-keys",
            {"name": "lab", "scopes": ["fhir:read"]},
            admin_headers,
        ),
    }
    session = jwt.decode(patient_headers["Authorization"][7:], options={"verify_signature": False})
    async with database.transaction() as db:
        notification = await db.scalar(select(Notification.id).limit(1))
    ids = {
        "doctor_id": str(doctor.id),
        "user_id": str(patient.id),
        "appointment_id": booked.json()["id"],
        "session_id": session["sid"],
        "notification_id": str(notification or uuid.uuid4()),
        **made,
    }
    users = {"patient": patient, "doctor": doctor, "admin": admin, "nurse": nurse}
    ids["email"] = patient.email  # signs in (registration takes a new one: see baseline)
    return World(ids, users, free_slot=_at(3, 11), completed=str(completed.id))


async def _made(client: httpx.AsyncClient, path: str, body: Json, headers: dict[str, str]) -> str:
    answer = await client.post(path, json=body, headers=headers)
    assert answer.status_code in (200, 201), (path, answer.text)
    return str(answer.json()["id"])


# -- one operation -----------------------------------------------------------------------------


def baseline(method: str, path: str, world: World) -> tuple[Json, Json, Any]:
    """Path values, query values and body of a valid request."""
    operation = _DOC["paths"][path][method.lower()]
    if "/prescriptions" in path or "/review" in path:  # written after a consultation
        world = replace(world, ids={**world.ids, "appointment_id": world.completed})
    if path.endswith("/auth/register"):  # a new account, so that its fields reach the insert
        world = replace(world, ids={**world.ids, "email": f"new-{uuid.uuid4().hex[:8]}@x.example"})
    path_values: Json = {}
    query: Json = {}
    for parameter in operation.get("parameters", []):
        name, where = parameter["name"], parameter["in"]
        if where == "path":
            path_values[name] = example(parameter["schema"], name, world)
        elif where == "query" and parameter.get("required"):
            query[name] = example(parameter["schema"], name, world)
    content = operation.get("requestBody", {}).get("content", {})
    body = None
    if "application/json" in content:
        body = example(content["application/json"]["schema"], "body", world)
    return path_values, query, body


def bad_requests(
    method: str, path: str, parts: tuple[Json, Json, Any], world: World
) -> Iterator[tuple[Location, Any]]:
    """Each (location, bad value) of the operation whose valid request is ``parts``."""
    operation = _DOC["paths"][path][method.lower()]
    path_values, query, body = parts
    for parameter in operation.get("parameters", []):
        name, where = parameter["name"], parameter["in"]
        if where in ("path", "query"):
            schema = concrete(parameter["schema"])
            valid = {**path_values, **query}.get(name) or example(schema, name, world)
            for value in bad_values(schema, name, valid):
                yield (where, name), value
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        for at, schema in leaves(content["application/json"]["schema"], ("body",)):
            valid = body
            for step in at[1:]:
                valid = valid[step]
            for value in bad_values(schema, at[-1], valid):
                yield at, value


def with_value(parts: tuple[Json, Json, Any], at: Location, value: Any) -> tuple[Json, Json, Any]:
    path_values, query, body = json.loads(json.dumps(parts))
    if at[0] == "path":
        path_values[at[1]] = value
    elif at[0] == "query":
        query[at[1]] = value
    else:
        target = body
        for step in at[1:-1]:
            target = target[step]
        target[at[-1]] = value
    return path_values, query, body


async def send(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    parts: tuple[Json, Json, Any],
    headers: dict[str, str],
) -> httpx.Response:
    path_values, query, body = parts
    for name, value in path_values.items():
        path = path.replace("{" + name + "}", quote(str(value), safe=""))
    return await client.request(
        method,
        path,
        params={k: str(v) for k, v in query.items()},
        json=body,
        headers=headers,
    )


async def caller_of(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    parts: tuple[Json, Json, Any],
    world: World,
    token_for: TokenFor,
) -> tuple[str, httpx.Response]:
    """Anonymous for a public route, else the first role the route lets in; and its answer."""
    if path in PUBLIC_PATHS:
        return "anonymous", await send(client, method, path, parts, {})
    for role in ("patient", "doctor", "admin", "nurse"):
        answer = await send(client, method, path, parts, await token_for(world.users[role]))
        if answer.status_code not in (401, 403):
            return role, answer
    return "nobody", answer


@asynccontextmanager
async def undone(database: Database) -> AsyncIterator[None]:
    """Whatever the requests in the block write is undone after it (a savepoint of the test's
    transaction), so that each request finds the world as it was: a baseline that cancels the
    appointment must not make every bad value after it a 409 that never reached the database."""
    connection = database.sessionmaker.kw["bind"]
    savepoint = await connection.begin_nested()
    try:
        yield
    finally:
        await savepoint.rollback()


@pytest.fixture
async def jobs_emptied(client: httpx.AsyncClient) -> AsyncIterator[None]:
    """Jobs are deferred on connections of their own (committed outside the test's
    transaction): the ones the requests made are deleted afterwards."""
    yield
    await job_app.connector.execute_query_async(
        "DELETE FROM procrastinate_jobs WHERE queue_name IN "
        "('notifications', 'prescriptions', 'payments')"
    )


# Operations whose baseline is refused as invalid input for a reason other than a missing
# example (so their bad values are only checked by the shared layer, not by the service).
SHALLOW: dict[str, str] = {}


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
async def test_malformed_input_answers_4xx_never_5xx(
    client: httpx.AsyncClient,
    database: Database,
    world: World,
    token_for: TokenFor,
    jobs_emptied: None,
    method: str,
    path: str,
) -> None:
    parts = baseline(method, path, world)
    async with undone(database):
        role, answer = await caller_of(client, method, path, parts, world, token_for)
    assert answer.status_code < 500, (role, answer.text)
    invalid = answer.status_code == 422 and answer.json()["code"] == "validation_error"
    if invalid and f"{method} {path}" not in SHALLOW:
        pytest.fail(f"the baseline of {method} {path} is invalid input: {answer.text}")

    failures = []
    for at, value in bad_requests(method, path, parts, world):
        async with undone(database):
            headers = {} if role == "anonymous" else await token_for(world.users[role])
            answer = await send(client, method, path, with_value(parts, at, value), headers)
        problem = answer.headers.get("content-type", "").startswith(PROBLEM_MEDIA_TYPE)
        if answer.status_code >= 500 or (answer.status_code >= 400 and not problem):
            failures.append((".".join(map(str, at)), value, answer.status_code, answer.text[:300]))
    assert failures == []


# -- blank text ----------------------------------------------------------------------------------

# Required strings that are not text people read: secrets, codes and keys (a password may be
# anything a person chose), and values checked by their own rule (a time zone, a phone number).
NOT_TEXT = {
    "password",
    "current_password",
    "new_password",
    "refresh_token",
    "token",
    "mfa_token",
    "code",
    "recovery_code",
    "p256dh",
    "auth",
    "endpoint",
    "scopes",
    "time_zone",
    "phone",
}
NOT_BLANK = r"\S"  # the JSON Schema pattern of platform/inputs.py's not_blank(): a visible char


def text_leaves(
    schema: Json, at: Location, required: bool = True
) -> Iterator[tuple[Location, Json, bool]]:
    """Every string of a body, with its location and whether it must be given."""
    schema = resolve(schema)
    for union in ("anyOf", "oneOf"):
        for member in schema.get(union, []):
            if resolve(member).get("type") != "null":
                yield from text_leaves(member, at, False)
    if schema.get("type") == "object":
        needed = set(schema.get("required", []))
        for name, sub in schema.get("properties", {}).items():
            yield from text_leaves(sub, (*at, name), required and name in needed)
    elif schema.get("type") == "array":
        yield from text_leaves(schema.get("items", {}), (*at, 0), required)
    elif schema.get("type") == "string":
        yield at, schema, required


def must_say_something(at: Location, schema: Json, required: bool) -> bool:
    """A name anywhere, and any other text a request must carry, may not be blank."""
    name = next(str(part) for part in reversed(at) if isinstance(part, str))  # scopes.0: scopes
    if name == "name" or name.endswith("_name"):
        return True
    free = not {"format", "enum", "pattern"} & set(schema) or schema.get("pattern") == NOT_BLANK
    return required and free and name not in NOT_TEXT


def blank_refusing(method: str, path: str) -> list[Location]:
    content = _DOC["paths"][path][method.lower()].get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return []
    leaves_ = text_leaves(content["application/json"]["schema"], ("body",))
    return [at for at, schema, required in leaves_ if must_say_something(at, schema, required)]


WITH_TEXT = [(m, p) for m, p in OPERATIONS if blank_refusing(m, p)]


def test_every_name_and_required_text_is_not_blank_in_the_schema() -> None:
    """The shared type (platform/inputs.py's ``Name``, or ``not_blank()``) on every such field:
    a new ``name`` without it fails here."""
    missing = []
    for method, path in OPERATIONS:
        operation = _DOC["paths"][path][method.lower()]
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" not in content:
            continue
        for at, schema, required in text_leaves(content["application/json"]["schema"], ("body",)):
            if must_say_something(at, schema, required) and schema.get("pattern") != NOT_BLANK:
                missing.append(f"{method} {path} {'.'.join(map(str, at))}")
    assert WITH_TEXT
    assert missing == []


@pytest.mark.parametrize(("method", "path"), WITH_TEXT, ids=[f"{m} {p}" for m, p in WITH_TEXT])
async def test_blank_text_is_refused(
    client: httpx.AsyncClient,
    database: Database,
    world: World,
    token_for: TokenFor,
    jobs_emptied: None,
    method: str,
    path: str,
) -> None:
    """Only spaces (or tabs, or a line break) where a name or a required text goes: 422 naming
    the field, and nothing written."""
    parts = baseline(method, path, world)
    async with undone(database):
        role, answer = await caller_of(client, method, path, parts, world, token_for)
    assert answer.status_code < 400, (role, answer.text)  # the baseline is accepted
    headers = {} if role == "anonymous" else await token_for(world.users[role])
    for at in blank_refusing(method, path):
        for blank in (" ", "   ", "\t \n"):
            async with undone(database):
                answer = await send(client, method, path, with_value(parts, at, blank), headers)
            assert answer.status_code == 422, (at, blank, answer.text)
            fields = [error["field"] for error in answer.json()["errors"]]
            assert ".".join(map(str, at)) in fields, (at, answer.text)
