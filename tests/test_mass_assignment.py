"""Mass assignment: no write route lets a client set role, ownership, status, verification or
money by adding fields the route does not declare. Generated from the OpenAPI document: every
POST, PUT and PATCH with a JSON body is sent as its baseline request (``tests/factories/openapi``:
the first role the route lets in, the ids of a small world; the secrets of ``PREPARED``) plus,
in each object of its body (the body, and those nested in it), every privileged field of
``EXTRAS`` that object does not declare (``role: admin``, another patient's ``patient_id``, a
``verified_at``, a ``fee`` of 1, a chosen ``id``...). Each object must then either refuse
them (422 naming every one of them, for models that forbid unknown fields) or answer exactly as
if they had not been sent: the privileged columns of every table (the caller's user row, the
objects the request made or changed) are the same as after the plain baseline request. A new
write route is covered when it appears in the document.

Fields that are privileged yet declared by a write route are listed in ``DECLARED`` with why the
caller may set them; a new one fails ``test_declared_privileged_fields_are_known`` until it is
argued there (or removed from the schema).
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pyotp
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from carebridge.accounts import links
from carebridge.accounts.models import Role, TokenPurpose, User
from carebridge.accounts.service import start_session
from carebridge.accounts.tokens import KeyStore
from carebridge.config import Settings
from carebridge.platform.context import SYSTEM
from carebridge.platform.db import Database
from tests.factories import PASSWORD, MakeUser, TokenFor
from tests.factories.databases import undone
from tests.factories.openapi import (
    DOC,
    OPERATIONS,
    Json,
    World,
    baseline,
    caller_of,
    concrete,
    send,
)
from tests.factories.passkeys import registered, registration_answer, sign_in_answer

Location = tuple[str | int, ...]
INSTANT = "2001-02-03T04:05:06+00:00"  # a time no row gets by itself
CHOSEN_ID = str(uuid.uuid4())  # an id no row gets by itself


# The tests of this module share one world (``api_world``, built once, tests/factories/openapi.py):
# each test runs in a savepoint of the world's transaction, undone afterwards.
@pytest.fixture
def database(in_world: Database) -> Database:
    return in_world


# Extra fields and the value an attacker would send; "<other patient>" and "<other doctor>"
# are replaced by the ids of people the caller has nothing to do with.
EXTRAS: dict[str, Any] = {
    "role": "admin",
    "status": "completed",
    "user_id": "<other patient>",
    "owner_id": "<other patient>",
    "author_id": "<other patient>",
    "patient_id": "<other patient>",
    "doctor_id": "<other doctor>",
    "nurse_id": "<other doctor>",
    "recipient_id": "<other patient>",
    "created_by": "<other patient>",
    "cancelled_by": "<other patient>",
    "verified_by": "<other doctor>",
    "hidden_by": "<other doctor>",
    "verified_at": INSTANT,
    "email_verified_at": INSTANT,
    "is_verified": True,
    "verified": True,
    "approved": True,
    "approved_at": INSTANT,
    "rating_average": 5.0,
    "rating_count": 999,
    "amount": 1,
    "fee": 1,
    "consultation_fee": 1,
    "currency": "USD",
    "paid": True,
    "paid_at": INSTANT,
    "refunded": True,
    "refunded_at": INSTANT,
    "mfa_enabled": True,
    "mfa_enabled_at": INSTANT,
    "hidden": True,
    "hidden_at": INSTANT,
    "issued_at": INSTANT,
    "confirmed_at": INSTANT,
    "completed_at": INSTANT,
    "cancelled_at": INSTANT,
    "revoked_at": INSTANT,
    "expires_at": INSTANT,
    "ends_at": INSTANT,
    "provider_payment_id": "pi_chosen_by_the_client",
    "id": CHOSEN_ID,
    "created_at": INSTANT,
    "updated_at": INSTANT,
}

# Privileged names a write route declares on purpose, and why its caller may set them.
DECLARED: dict[tuple[str, str], str] = {
    ("POST /api/v1/auth/register", "body.role"): "patient, doctor or nurse, never admin; "
    "doctors and nurses sign up pending until an admin approves them",
    ("PUT /api/v1/doctors/me/profile", "body.consultation_fee"): "a doctor sets their own fee",
    ("PUT /api/v1/doctors/me/profile", "body.currency"): "the currency of the doctor's own fee",
    ("PUT /api/v1/doctors/me/status", "body.status"): "the doctor's own presence (online, busy...)",
    ("POST /api/v1/appointments", "body.doctor_id"): "the doctor the patient books",
    # A passkey's answer names the credential its authenticator signed with: the key's own id,
    # checked against the stored passkeys (and its signature), never an object of CareBridge.
    ("POST /api/v1/auth/passkeys", "body.credential.id"): "the new passkey's own id",
    ("POST /api/v1/auth/passkeys/sign-in", "body.credential.id"): "the passkey that signed",
    ("POST /api/v1/auth/mfa/verify", "body.passkey.id"): "the passkey that signed",
    ("POST /api/v1/conversations", "body.doctor_id"): "the doctor a patient writes to, only one "
    "they have had an appointment with",
    ("POST /api/v1/conversations", "body.patient_id"): "the patient a doctor writes to, only one "
    "they have had an appointment with",
    ("POST /api/v1/conversations/{conversation_id}/members", "body.user_id"): "the nurse or "
    "doctor the conversation's doctor (or an admin) adds",
    ("POST /api/v1/appointments/{appointment_id}/call/invite", "body.user_id"): "the nurse or "
    "doctor the appointment's doctor invites into its call",
    ("POST /api/v1/records/grants", "body.expires_at"): "when the patient's own sharing of "
    "their record ends (at most CAREBRIDGE_RECORD_GRANT_MAX_DAYS ahead)",
    ("POST /api/v1/records/medications/{medication_id}/doses", "body.status"): "the patient "
    "marks their own dose taken or skipped (a reminder's `due` is the server's)",
    # A condition's clinical status (FHIR) is what the patient says of their own problem list.
    ("POST /api/v1/visits", "body.patient_id"): "a doctor orders a visit for a patient in their "
    "care (checked: 404 otherwise); a patient may not name anyone (422 wrong_party)",
    ("POST /api/v1/visits/{visit_id}/assign", "body.nurse_id"): "the dispatcher's choice of "
    "nurse: an approved nurse on the roster who performs the visit's service",
    ("POST /api/v1/records/conditions", "body.status"): "the condition's clinical status",
    ("PATCH /api/v1/records/conditions/{condition_id}", "body.status"): "the same, changed",
}

# Requests whose baseline needs a secret the schema cannot give (a refresh token, an emailed
# link, a TOTP code), made for the world's patient before the request. An operation whose body
# ignores unknown fields must reach its service with the baseline, or the test could not tell
# an ignored field from a request refused for another reason: a new one fails until it is here.


@dataclass
class Kit:
    client: httpx.AsyncClient
    database: Database
    patient: User
    headers: dict[str, str]  # the patient's
    keys: KeyStore


Prepare = Callable[[Kit], Awaitable[Json]]


async def _signed_in(kit: Kit) -> Json:
    answer = await kit.client.post(
        "/api/v1/auth/login", json={"email": kit.patient.email, "password": PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    signed_in: Json = answer.json()
    return signed_in


async def _link(kit: Kit, purpose: TokenPurpose) -> str:
    async with kit.database.transaction() as db:
        return await links.issue(db, kit.patient.id, purpose, timedelta(hours=1))


async def _totp_set_up(kit: Kit) -> pyotp.TOTP:
    setup = await kit.client.post("/api/v1/auth/mfa/totp/setup", headers=kit.headers)
    assert setup.status_code == 200, setup.text
    return pyotp.TOTP(setup.json()["secret"])


async def _totp_on(kit: Kit) -> pyotp.TOTP:
    totp = await _totp_set_up(kit)
    enabled = await kit.client.post(
        "/api/v1/auth/mfa/totp/enable",
        json={"code": totp.at(time.time() - 30)},  # the step before the requests' own
        headers=kit.headers,
    )
    assert enabled.status_code == 200, enabled.text
    return totp


async def _refresh(kit: Kit) -> Json:
    # A session started directly: the world's patient has a passkey, so the password alone
    # does not sign them in.
    async with kit.database.transaction() as db:
        pair = await start_session(db, kit.keys, kit.patient, SYSTEM)
    return {"refresh_token": pair.refresh_token}


async def _verify_email(kit: Kit) -> Json:
    return {"token": await _link(kit, TokenPurpose.verify_email)}


async def _reset(kit: Kit) -> Json:
    token = await _link(kit, TokenPurpose.reset_password)
    return {"token": token, "new_password": "another-sturdy-lantern-93"}


async def _enable(kit: Kit) -> Json:
    return {"code": (await _totp_set_up(kit)).now()}


async def _with_password(kit: Kit) -> Json:
    return {"password": PASSWORD, "code": (await _totp_on(kit)).now()}


async def _second_step(kit: Kit) -> Json:
    totp = await _totp_on(kit)
    mfa_token = (await _signed_in(kit))["mfa_token"]
    return {"mfa_token": mfa_token, "code": totp.now(), "recovery_code": None}


async def _passkey_answer(kit: Kit) -> Json:
    return await registration_answer(kit.client, kit.headers)


async def _passkey_sign_in(kit: Kit) -> Json:
    key, _ = await registered(kit.client, kit.headers)
    return {"credential": await sign_in_answer(kit.client, key)}


async def _without_token(kit: Kit) -> Json:
    return {"mfa_token": None}  # options to sign in with a passkey alone


PREPARED: dict[str, Prepare] = {
    "POST /api/v1/auth/refresh": _refresh,
    "POST /api/v1/auth/verify-email": _verify_email,
    "POST /api/v1/auth/password/reset": _reset,
    "POST /api/v1/auth/mfa/verify": _second_step,
    "POST /api/v1/auth/mfa/totp/enable": _enable,
    "POST /api/v1/auth/mfa/totp/disable": _with_password,
    "POST /api/v1/auth/mfa/recovery-codes": _with_password,
    "POST /api/v1/auth/passkeys": _passkey_answer,
    "POST /api/v1/auth/passkeys/sign-in": _passkey_sign_in,
    "POST /api/v1/auth/passkeys/sign-in-options": _without_token,
}

WRITES = [
    (method, path)
    for method, path in OPERATIONS
    if method in ("POST", "PUT", "PATCH")
    and "application/json"
    in DOC["paths"][path][method.lower()].get("requestBody", {}).get("content", {})
]


def body_schema(method: str, path: str) -> Json:
    operation = DOC["paths"][path][method.lower()]
    return concrete(operation["requestBody"]["content"]["application/json"]["schema"])


def objects(schema: Json, at: Location) -> Iterator[tuple[Location, Json]]:
    """Every object with declared fields in a body of ``schema`` (the body itself, and those
    nested in it, however deep), with its location in the baseline body."""
    schema = concrete(schema)
    if schema.get("type") == "object" and schema.get("properties"):
        yield at, schema
        for name, sub in schema["properties"].items():
            yield from objects(sub, (*at, name))
    elif schema.get("type") == "array":
        yield from objects(schema.get("items", {}), (*at, 0))


def targets(method: str, path: str) -> list[tuple[Location, Json, list[str]]]:
    """Each object of the operation's body, its schema and the privileged names it does not
    declare."""
    return [
        (at, schema, [name for name in EXTRAS if name not in schema["properties"]])
        for at, schema in objects(body_schema(method, path), ("body",))
    ]


def tried(method: str, path: str) -> int:
    return sum(len(names) for _, _, names in targets(method, path))


TRIED = {f"{method} {path}": tried(method, path) for method, path in WRITES}


def with_extras(body: Json, at: Location, extras: Json) -> Json:
    body = json.loads(json.dumps(body))
    target = body
    for step in at[1:]:
        target = target[step]
    target.update(extras)
    return body


# -- the privileged state ----------------------------------------------------------------------

PRIVILEGED_COLUMNS = {name for name in EXTRAS if name not in ("is_verified", "verified")}


async def privileged_state(connection: AsyncConnection) -> dict[str, Counter[tuple[Any, ...]]]:
    """Per table, the multiset of its rows' privileged columns. Times are only "set", "unset" or
    the chosen ``INSTANT``, and ids only whether they are the ``CHOSEN_ID``: a row made by the
    request has a new id and time in each run, the same owner, role, status and money."""
    found = await connection.execute(
        text(
            "SELECT table_name, array_agg(column_name::text ORDER BY column_name) "
            "FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND column_name = ANY(:names) AND table_name NOT LIKE 'procrastinate%' "
            "GROUP BY table_name"
        ),
        {"names": sorted(PRIVILEGED_COLUMNS)},
    )
    state: dict[str, Counter[tuple[Any, ...]]] = {}
    for table, columns in found.all():
        listed = ", ".join(f'"{column}"' for column in columns)
        rows = await connection.execute(text(f'SELECT {listed} FROM "{table}"'))
        state[table] = Counter(
            tuple(seen(column, value) for column, value in zip(columns, row, strict=True))
            for row in rows.all()
        )
    return state


def seen(column: str, value: Any) -> Any:
    if column == "id":
        return "chosen" if str(value) == CHOSEN_ID else "id"
    if hasattr(value, "isoformat") and hasattr(value, "tzinfo"):
        return "chosen" if value.isoformat() == INSTANT else "set"
    return value


def connection_of(database: Database) -> AsyncConnection:
    connection: AsyncConnection = database.sessionmaker.kw["bind"]
    return connection


# -- the walk ----------------------------------------------------------------------------------


def test_every_write_operation_is_tried_with_privileged_fields(capsys: Any) -> None:
    """The walk reaches every write route, each object of its body with most of the privileged
    names (the rest are declared and argued in ``DECLARED``)."""
    assert len(WRITES) >= 30
    objects_ = [(at, schema, names) for m, p in WRITES for at, schema, names in targets(m, p)]
    assert all(len(names) >= len(EXTRAS) - 3 for _, _, names in objects_)
    forbidding = sum(schema.get("additionalProperties") is False for _, schema, _ in objects_)
    with capsys.disabled():
        print(
            f"\nmass assignment: {len(WRITES)} write operations, {len(objects_)} body objects, "
            f"{sum(TRIED.values())} operation x field tries ({forbidding} objects refuse "
            f"unknown fields, {len(objects_) - forbidding} ignore them)"
        )


def test_declared_privileged_fields_are_known() -> None:
    declared = {
        (f"{method} {path}", ".".join(map(str, (*at, name))))
        for method, path in WRITES
        for at, schema, _ in targets(method, path)
        for name in schema["properties"]
        if name in EXTRAS
    }
    assert declared == set(DECLARED)


async def test_registration_cannot_choose_admin(client: httpx.AsyncClient) -> None:
    """The one declared role: admin is not among its values."""
    answer = await client.post(
        "/api/v1/auth/register",
        json={
            "email": f"would-be-admin-{uuid.uuid4().hex[:8]}@clinic.example",
            "password": "another-sturdy-lantern-93",
            "name": "Would-be admin",
            "role": "admin",
        },
    )
    assert answer.status_code == 422, answer.text
    assert "body.role" in [error["field"] for error in answer.json()["errors"]]


@pytest.mark.parametrize(("method", "path"), WRITES, ids=[f"{m} {p}" for m, p in WRITES])
async def test_privileged_extra_fields_are_refused_or_ignored(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    api_world: World,
    make_user: MakeUser,
    token_for: TokenFor,
    jobs_emptied: None,
    method: str,
    path: str,
) -> None:
    other = {
        "<other patient>": str((await make_user(Role.patient)).id),
        "<other doctor>": str((await make_user(Role.doctor)).id),
    }
    path_values, query, body = baseline(method, path, api_world)
    prepare = PREPARED.get(f"{method} {path}")
    if prepare is not None:
        patient = api_world.users["patient"]
        kit = Kit(client, database, patient, await token_for(patient), KeyStore(settings))
        body = {**body, **await prepare(kit)}
    async with undone(database):
        role, plain = await caller_of(
            client, method, path, (path_values, query, body), api_world, token_for
        )
        expected = await privileged_state(connection_of(database))
    assert plain.status_code < 500, plain.text
    ignoring = any(
        schema.get("additionalProperties") is not False for _, schema, _ in targets(method, path)
    )
    if ignoring:  # else the test cannot tell an ignored field from a refused request
        assert plain.status_code < 400, f"prepare a valid {method} {path} in PREPARED: {plain.text}"

    headers = {} if role == "anonymous" else await token_for(api_world.users[role])
    for at, schema, names in targets(method, path):
        extras = {name: other.get(str(EXTRAS[name]), EXTRAS[name]) for name in names}
        async with undone(database):
            answer = await send(
                client, method, path, (path_values, query, with_extras(body, at, extras)), headers
            )
            after = await privileged_state(connection_of(database))
        assert answer.status_code < 500, (at, answer.text)
        where = ".".join(map(str, at))
        if schema.get("additionalProperties") is False:
            assert answer.status_code == 422, (role, at, answer.text)
            refused = {error["field"] for error in answer.json()["errors"]}
            assert {f"{where}.{name}" for name in extras} <= refused, answer.text
        elif answer.status_code < 400:
            assert plain.status_code == answer.status_code, (at, plain.text, answer.text)
            changed = {table for table in after if after[table] != expected.get(table)}
            assert changed == set(), (role, at, {t: after[t] - expected[t] for t in changed})
