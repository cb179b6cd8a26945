"""Walking the OpenAPI document with valid requests: the document of the application, its
operations, a valid example of each schema, a small world of objects whose ids the examples
use (a doctor with a schedule, a patient with an upcoming and a completed appointment, a
prescription, a review, an admin, a nurse: the ``api_world`` fixture, built once per module
and shared by its tests, each in a savepoint of it), the baseline request of
each operation, the first role an operation lets in, and a savepoint that undoes what a request
wrote. Shared by the generated tests (malformed input, mass assignment)."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import AsyncIterator
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
from sqlalchemy.ext.asyncio import AsyncEngine

from carebridge.accounts.models import Role, User
from carebridge.app import create_app
from carebridge.config import Settings
from carebridge.messaging.models import Conversation
from carebridge.notifications.models import Notification
from carebridge.platform.access import anonymous, declared_callers, endpoints
from carebridge.platform.db import Database
from carebridge.platform.jobs import job_app
from carebridge.scheduling.models import Appointment
from tests.factories.apps import serving
from tests.factories.directory import doctor_maker
from tests.factories.passkeys import registered
from tests.factories.records_diary import EXAMPLES as RECORD_EXAMPLES
from tests.factories.records_diary import made_records
from tests.factories.scheduling import doctor_on_schedule, next_weekday, schedule_body
from tests.factories.settings import make_settings
from tests.factories.users import PASSWORD, TokenFor, tokens_for, user_maker
from tests.factories.visits import HOME, on_roster, visit_body

Json = dict[str, Any]
_APP = create_app(
    make_settings(Path(tempfile.mkdtemp()), database_url="postgresql://unused@localhost/none")
)
DOC: Json = _APP.openapi()
PUBLIC_PATHS = {
    path for path, dependant in endpoints(_APP.routes) if anonymous in declared_callers(dependant)
}
SCHEMAS: Json = DOC["components"]["schemas"]
OPERATIONS = [
    (method.upper(), path)
    for path, operations in DOC["paths"].items()
    for method in operations
    if method in ("get", "post", "put", "patch", "delete")
]
BERLIN = ZoneInfo("Europe/Berlin")


# -- walking the schemas -----------------------------------------------------------------------


def resolve(schema: Json) -> Json:
    while "$ref" in schema:
        schema = SCHEMAS[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def concrete(schema: Json) -> Json:
    """The schema without ``$ref`` and without the ``null`` of an optional value."""
    schema = resolve(schema)
    for union in ("anyOf", "oneOf"):
        if union in schema:
            members = [resolve(s) for s in schema[union] if resolve(s).get("type") != "null"]
            return concrete(members[0])
    return schema


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
EXAMPLES: dict[str, Any] = {
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
    "scopes": "appointments:read",
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
    # A passkey's answer (its binary values in base64url): well-formed, signed by nothing.
    "id": "Y3JlZGVudGlhbA",
    "rawId": "Y3JlZGVudGlhbA",
    "limit": 10,
    "rating": 4,
    # A medication's schedule (the world's medication is taken at 08:00 since a week ago).
    "times": "08:00",
    "starts_on": (datetime.now(UTC) - timedelta(days=7)).date().isoformat(),
    "ends_on": (datetime.now(UTC) + timedelta(days=30)).date().isoformat(),
    "local_date": (datetime.now(UTC) - timedelta(days=1)).date().isoformat(),
    "local_time": "08:00",
    # A home visit's window: from three hours ahead, for two hours.
    "window_start": (datetime.now(UTC) + timedelta(hours=3)).isoformat(),
    "window_end": (datetime.now(UTC) + timedelta(hours=5)).isoformat(),
    "lat": HOME[0],
    "lng": HOME[1],
}
EXAMPLES.update(RECORD_EXAMPLES)


def example(schema: Json, name: str | int, world: World) -> Any:
    """A valid value for ``schema`` (every property of an object, optional ones too, so that
    each can be made bad in turn)."""
    schema = concrete(schema)
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    if kind == "object":
        properties = schema.get("properties", {})
        return {key: example(sub, key, world) for key, sub in properties.items()}
    if kind == "array":
        return [example(schema.get("items", {}), name, world)]
    if name in world.ids:
        return world.ids[name]
    if name in EXAMPLES:
        return EXAMPLES[name]
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


@pytest.fixture(scope="module")
async def world_database(engine: AsyncEngine) -> AsyncIterator[Database]:
    """The database of a module whose tests share one world: one connection in an outer
    transaction, in which ``api_world`` is built once; each test runs in a savepoint of it
    (``in_world``) rolled back after the test, and the whole is rolled back at the end of the
    module. Nothing of the world is committed, and every test finds it as it was built."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        yield Database(engine, bind=connection)
        await transaction.rollback()


@pytest.fixture
async def in_world(world_database: Database) -> AsyncIterator[Database]:
    """The test's database, in a savepoint of the module's world: a module that uses
    ``api_world`` makes it its ``database``, so the test's app, factories and ``undone`` write
    where the world is, and all of it is undone after the test."""
    savepoint = await world_database.sessionmaker.kw["bind"].begin_nested()
    yield world_database
    await savepoint.rollback()


@pytest.fixture(scope="module")
async def api_world(world_database: Database, settings: Settings) -> World:
    """The world, built once per module (the tests only read it: what each one writes is undone
    by its savepoint), by an app of its own whose lifespan ends before the tests' apps start
    (each test still has a new app, so what an app keeps in memory, such as rate limits, is
    new in each test)."""
    async with serving(create_app(settings, database=world_database)) as client:
        world = await _build_world(client, world_database, settings)
        # Jobs are deferred on connections of their own (committed): none is left for the
        # tests, as ``jobs_emptied`` does after each test.
        await _delete_jobs()
    return world


async def _build_world(client: httpx.AsyncClient, database: Database, settings: Settings) -> World:
    make_user, token_for = user_maker(database), tokens_for(database, settings)
    doctor, doctor_headers = await doctor_on_schedule(
        client, doctor_maker(database, make_user), token_for, schedule_body()
    )
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
            {"name": "lab", "scopes": ["appointments:read"]},
            admin_headers,
        ),
        "passkey_id": (await registered(client, patient_headers))[1],
        # Version 1 of the terms: a sign-up accepts it, and a person may accept it.
        "consent_document_id": await _made(
            client,
            "/api/v1/admin/consent-documents",
            {"kind": "terms_of_service", "title": "Terms", "body": "Checked words"},
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
    async with database.transaction() as db:  # the booked appointment's, with a message
        conversation = await db.scalar(
            select(Conversation.id).where(Conversation.appointment_id == ids["appointment_id"])
        )
    ids["conversation_id"] = str(conversation)
    ids["patient_id"] = str(patient.id)
    ids["stranger_patient_id"] = str((await make_user(Role.patient)).id)
    ids["message_id"] = await _made(
        client,
        f"/api/v1/conversations/{conversation}/messages",
        {"client_id": str(uuid.uuid4()), "text": "Checked words"},
        patient_headers,
    )
    ids["medication_id"] = await _made(
        client,
        "/api/v1/records/medications",
        {"name": "Checked words", "times": ["08:00"], "starts_on": EXAMPLES["starts_on"]},
        patient_headers,
    )
    ids.update(await made_records(client, patient_headers, "Checked words"))
    await on_roster(database, nurse)
    ids["nurse_id"] = str(nurse.id)
    ids["visit_id"] = await _visit_in_progress(
        client, patient_headers, admin_headers, nurse, token_for
    )
    users = {"patient": patient, "doctor": doctor, "admin": admin, "nurse": nurse}
    ids["email"] = patient.email  # signs in (registration takes a new one: see baseline)
    return World(ids, users, free_slot=_at(3, 11), completed=str(completed.id))


async def _visit_in_progress(
    client: httpx.AsyncClient,
    patient: dict[str, str],
    admin: dict[str, str],
    nurse: User,
    token_for: TokenFor,
) -> str:
    """A home visit of the patient, assigned to the world's nurse and under way (its report is
    the nurse's to write)."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    body = visit_body(
        window_start=start.isoformat(), window_end=(start + timedelta(hours=2)).isoformat()
    )
    visit_id = await _made(client, "/api/v1/visits", body, patient)
    url = f"/api/v1/visits/{visit_id}"
    assigned = await client.post(f"{url}/assign", json={"nurse_id": str(nurse.id)}, headers=admin)
    assert assigned.status_code == 200, assigned.text
    nurse_headers = await token_for(nurse)
    for step in ("accepted", "en_route", "arrived", "in_progress"):
        moved = await client.post(f"{url}/transitions", json={"to": step}, headers=nurse_headers)
        assert moved.status_code == 200, (step, moved.text)
    return visit_id


async def _made(client: httpx.AsyncClient, path: str, body: Json, headers: dict[str, str]) -> str:
    answer = await client.post(path, json=body, headers=headers)
    assert answer.status_code in (200, 201), (path, answer.text)
    return str(answer.json()["id"])


# -- one operation -----------------------------------------------------------------------------


def baseline(method: str, path: str, world: World) -> tuple[Json, Json, Any]:
    """Path values, query values and body of a valid request."""
    operation = DOC["paths"][path][method.lower()]
    if "/prescriptions" in path or "/review" in path:  # written after a consultation
        world = replace(world, ids={**world.ids, "appointment_id": world.completed})
    if path.endswith("/records/emergency-access"):  # a record the doctor has no basis for
        world = replace(world, ids={**world.ids, "patient_id": world.ids["stranger_patient_id"]})
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
    elif MULTIPART in content:
        body = example(content[MULTIPART]["schema"], "body", world)
    if path.endswith("/auth/register"):  # the current terms, which the world published
        body["consents"] = [{"kind": "terms_of_service", "version": 1}]
    if method == "POST" and path == "/api/v1/visits":  # the patient asks for their own visit
        body["patient_id"] = None
    if method == "PUT" and path == "/api/v1/visits/{visit_id}/report":  # a possible reading
        body["vitals"] = [
            {**body["vitals"][0], "kind": "heart_rate", "value": 72, "value2": None, "unit": "/min"}
        ]
        body["vitals"][0]["measured_at"] = None  # now: the world's times are in the future
        for given in body["medications_given"]:
            given["at"] = None
    return path_values, query, body


# A form with files (``multipart/form-data``): its file fields are sent as this file, one that
# every upload accepts (plain text); its other fields as form values.
MULTIPART = "multipart/form-data"
UPLOAD = ("note.txt", b"A note for my doctor.\n", "text/plain")


def is_file(schema: Json) -> bool:
    schema = concrete(schema)
    if schema.get("type") == "array":
        return is_file(schema.get("items", {}))
    return schema.get("format") == "binary" or "contentMediaType" in schema


def form_of(method: str, path: str, body: Any) -> dict[str, Any] | None:
    """The ``data`` and ``files`` of a multipart request, or None for a JSON one."""
    content = DOC["paths"][path][method.lower()].get("requestBody", {}).get("content", {})
    if MULTIPART not in content or not isinstance(body, dict):
        return None
    properties = concrete(content[MULTIPART]["schema"]).get("properties", {})
    files = [(name, UPLOAD) for name, sub in properties.items() if is_file(sub)]
    data = {k: str(v) for k, v in body.items() if not is_file(properties.get(k, {}))}
    return {"data": data, "files": files}


async def send(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    parts: tuple[Json, Json, Any],
    headers: dict[str, str],
) -> httpx.Response:
    path_values, query, body = parts
    form = form_of(method, path, body)
    for name, value in path_values.items():
        path = path.replace("{" + name + "}", quote(str(value), safe=""))
    payload: dict[str, Any] = {"json": body} if form is None else form
    return await client.request(
        method, path, params={k: str(v) for k, v in query.items()}, headers=headers, **payload
    )


# Routes whose objects only the nurse of a visit sees at first (its report while it is written):
# the nurse is tried first (the patient would find nothing there yet: 404).
NURSE_FIRST = "/api/v1/visits/{visit_id}/report"


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
    roles = ["patient", "doctor", "admin", "nurse"]
    if path.startswith(NURSE_FIRST):
        roles.insert(0, "nurse")
    for role in roles:
        answer = await send(client, method, path, parts, await token_for(world.users[role]))
        if answer.status_code not in (401, 403):
            return role, answer
    return "nobody", answer


@pytest.fixture
async def jobs_emptied(client: httpx.AsyncClient) -> AsyncIterator[None]:
    """Jobs are deferred on connections of their own (committed outside the test's
    transaction): the ones the requests made are deleted afterwards."""
    yield
    await _delete_jobs()


async def _delete_jobs() -> None:
    await job_app.connector.execute_query_async(
        "DELETE FROM procrastinate_jobs WHERE queue_name IN "
        "('notifications', 'prescriptions', 'payments')"
    )
