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
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from carebridge.platform.db import Database
from carebridge.platform.problems import PROBLEM_MEDIA_TYPE
from tests.factories import TokenFor
from tests.factories.databases import undone
from tests.factories.openapi import (
    DOC,
    MULTIPART,
    OPERATIONS,
    Json,
    World,
    baseline,
    caller_of,
    concrete,
    example,
    is_file,
    resolve,
    send,
)

Location = tuple[str | int, ...]  # ("body", "lines", 0, "name"), ("query", "from"), ...


# The tests of this module share one world (``api_world``, built once, tests/factories/openapi.py):
# each test runs in a savepoint of the world's transaction, undone afterwards.
@pytest.fixture
def database(in_world: Database) -> Database:
    return in_world


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


# -- bad requests ------------------------------------------------------------------------------


def bad_requests(
    method: str, path: str, parts: tuple[Json, Json, Any], world: World
) -> Iterator[tuple[Location, Any]]:
    """Each (location, bad value) of the operation whose valid request is ``parts``."""
    operation = DOC["paths"][path][method.lower()]
    path_values, query, body = parts
    for parameter in operation.get("parameters", []):
        name, where = parameter["name"], parameter["in"]
        if where in ("path", "query"):
            schema = concrete(parameter["schema"])
            valid = {**path_values, **query}.get(name) or example(schema, name, world)
            for value in bad_values(schema, name, valid):
                yield (where, name), value
    content = operation.get("requestBody", {}).get("content", {})
    for media_type in ("application/json", MULTIPART):
        if media_type not in content:
            continue
        for at, schema in leaves(content[media_type]["schema"], ("body",)):
            if is_file(schema):
                continue  # files are judged by their own tests (tests/platform/test_files.py)
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


# Operations whose baseline is refused as invalid input for a reason other than a missing
# example (so their bad values are only checked by the shared layer, not by the service).
SHALLOW: dict[str, str] = {}

# Operations no baseline from the schema can get through, because what they take is signed by
# someone else over a one-time challenge: their blank names are still refused by the schema,
# before the service, which is what the blank-text test checks of them.
SIGNED_ELSEWHERE: dict[str, str] = {
    "POST /api/v1/auth/passkeys": "a passkey's answer, signed by an authenticator over a "
    "single-use challenge",
}


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
async def test_malformed_input_answers_4xx_never_5xx(
    client: httpx.AsyncClient,
    database: Database,
    api_world: World,
    token_for: TokenFor,
    jobs_emptied: None,
    method: str,
    path: str,
) -> None:
    world = api_world
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
    free = not {"format", "enum", "const", "pattern"} & set(schema)
    free = free or schema.get("pattern") == NOT_BLANK
    return required and free and name not in NOT_TEXT


def blank_refusing(method: str, path: str) -> list[Location]:
    content = DOC["paths"][path][method.lower()].get("requestBody", {}).get("content", {})
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
        operation = DOC["paths"][path][method.lower()]
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
    api_world: World,
    token_for: TokenFor,
    jobs_emptied: None,
    method: str,
    path: str,
) -> None:
    """Only spaces (or tabs, or a line break) where a name or a required text goes: 422 naming
    the field, and nothing written."""
    world = api_world
    parts = baseline(method, path, world)
    async with undone(database):
        role, answer = await caller_of(client, method, path, parts, world, token_for)
    if f"{method} {path}" not in SIGNED_ELSEWHERE:
        assert answer.status_code < 400, (role, answer.text)  # the baseline is accepted
    headers = {} if role == "anonymous" else await token_for(world.users[role])
    for at in blank_refusing(method, path):
        for blank in (" ", "   ", "\t \n"):
            async with undone(database):
                answer = await send(client, method, path, with_value(parts, at, blank), headers)
            assert answer.status_code == 422, (at, blank, answer.text)
            fields = [error["field"] for error in answer.json()["errors"]]
            assert ".".join(map(str, at)) in fields, (at, answer.text)
