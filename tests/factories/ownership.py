"""The object-level authorization matrix's registry: for every path parameter that names an
object, a factory that makes one such object for an owner, and who the domain's policy lets see
it (``visible_*`` in each domain's ``policy.py``); parameters that name public objects are
declared with the reason. ``tests/test_authorization_matrix.py`` walks the application's routes
with it, and fails on a route whose parameter is in neither table: a new domain registers its
objects here. The same holds for ids in query strings (``QUERY_IDS``), in request bodies (the
fields name a parameter of ``FACTORIES``) and in real-time topics (``TOPICS``).

The owner's world: a patient and their doctor (an upcoming appointment booked with a reason for
the visit, a completed one with a prescription and a review), the doctor's time off, the
patient's session, notification and push subscription, and an administrator's API key.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import jwt
from fastapi.routing import iter_route_contexts
from sqlalchemy import select
from starlette.routing import BaseRoute

from carebridge.accounts.actors import admin_actor
from carebridge.accounts.models import Role
from carebridge.messaging.models import Conversation
from carebridge.notifications.models import Notification
from carebridge.platform.access import declared_callers
from carebridge.platform.db import Database
from carebridge.web.session import web_admin
from tests.factories.directory import MakeDoctor
from tests.factories.passkeys import registered
from tests.factories.prescriptions import CANARY
from tests.factories.prescriptions import body as prescription_body
from tests.factories.scheduling import (
    doctor_on_schedule,
    next_weekday,
    schedule_body,
    written_appointment,
)
from tests.factories.users import MakeUser, Person, TokenFor

# Private words the owner's objects carry: none may appear in an answer to anyone else.
REASON = "zqreason-chest-pain-5b1e"
COMMENT = "zqcomment-rude-receptionist-91c2"
NOTE = "zqnote-results-hiv-positive-3d7a"
UNLISTED = "zqunlisted-doctor-bio-0c4e"

# The actor kinds the matrix calls as. The owner's side: the patient and the doctor of the
# appointment. Everyone else: another patient, a doctor without a relationship, a nurse, an
# administrator, anonymous.
ACTORS = (
    "owner_patient",
    "owner_doctor",
    "other_patient",
    "other_doctor",
    "nurse",
    "admin",
    "anonymous",
)


@dataclass
class OwnerWorld:
    client: httpx.AsyncClient
    database: Database
    people: dict[str, Person]  # by actor kind, anonymous excepted
    booked: str  # an upcoming appointment of the owner patient with the owner doctor
    completed: str  # a past one (prescriptions and reviews follow one)
    unlisted: str  # a doctor an administrator has not verified: not in the directory
    made: dict[str, str] = field(default_factory=dict)  # path parameter -> id, once made

    def headers(self, actor: str) -> dict[str, str]:
        return {} if actor == "anonymous" else self.people[actor].headers


Factory = Callable[[OwnerWorld], Awaitable[str]]


async def _made(world: OwnerWorld, path: str, body: object, actor: str) -> str:
    answer = await world.client.post(path, json=body, headers=world.headers(actor))
    assert answer.status_code in (200, 201), (path, answer.text)
    return str(answer.json()["id"])


async def _appointment(world: OwnerWorld) -> str:
    return world.booked


async def _prescription(world: OwnerWorld) -> str:
    """Issued, so that its patient sees it too (a draft is its doctor's alone)."""
    made = await _made(
        world,
        f"/api/v1/appointments/{world.completed}/prescriptions",
        prescription_body(notes=NOTE),
        "owner_doctor",
    )
    issued = await world.client.post(
        f"/api/v1/prescriptions/{made}/issue", headers=world.headers("owner_doctor")
    )
    assert issued.status_code == 200, issued.text
    return made


async def _review(world: OwnerWorld) -> str:
    path = f"/api/v1/appointments/{world.completed}/review"
    return await _made(world, path, {"rating": 2, "comment": COMMENT}, "owner_patient")


async def _exception(world: OwnerWorld) -> str:
    body = {"kind": "time_off", "date": next_weekday(5).isoformat(), "note": NOTE}
    return await _made(world, "/api/v1/doctors/me/exceptions", body, "owner_doctor")


async def _session(world: OwnerWorld) -> str:
    token = world.headers("owner_patient")["Authorization"].removeprefix("Bearer ")
    return str(jwt.decode(token, options={"verify_signature": False})["sid"])


async def _notification(world: OwnerWorld) -> str:
    async with world.database.transaction() as db:
        row = Notification(
            recipient_id=world.people["owner_patient"].user.id,
            kind="appointment_booked",
            title="Your appointment",
            body=f"Bring your {NOTE}",
        )
        db.add(row)
        await db.flush()
        return str(row.id)


async def _push_subscription(world: OwnerWorld) -> str:
    body = {
        "endpoint": f"https://push.example.org/send/{uuid.uuid4().hex}",
        "keys": {"p256dh": "B" + "A" * 86, "auth": "AAAAAAAAAAAAAAAAAAAAAA"},
    }
    return await _made(world, "/api/v1/push/subscriptions", body, "owner_patient")


async def _owner_patient(world: OwnerWorld) -> str:
    return str(world.people["owner_patient"].user.id)


async def _api_key(world: OwnerWorld) -> str:
    body = {"name": "lab", "scopes": ["appointments:read"]}
    return await _made(world, "/api/v1/admin/api-keys", body, "admin")


async def _passkey(world: OwnerWorld) -> str:
    """One of the owner patient's passkeys, added as the account page adds one."""
    _, passkey_id = await registered(world.client, world.headers("owner_patient"))
    return passkey_id


# Routes on an appointment that follow a consultation (writing a prescription, the review and
# its reply) name the completed appointment, so that its entitled callers find something there.
AFTER_CONSULTATION = ("/prescriptions", "/review")


def appointment_for(world: OwnerWorld, path: str) -> str:
    after = any(f"{{appointment_id}}{part}" in path for part in AFTER_CONSULTATION)
    return world.completed if after else world.booked


# Path parameter -> the factory of an object it names, owned by the owner's world.
FACTORIES: dict[str, Factory] = {
    "appointment_id": _appointment,
    "prescription_id": _prescription,
    "review_id": _review,
    "exception_id": _exception,
    "session_id": _session,
    "notification_id": _notification,
    "subscription_id": _push_subscription,
    "user_id": _owner_patient,
    "key_id": _api_key,
    "passkey_id": _passkey,
}

# Who may see each kind of object, as its domain's policy says. Everyone else is tried.
ENTITLED: dict[str, frozenset[str]] = {
    # scheduling.policy.visible_appointments: the patient, the doctor, an admin.
    "appointment_id": frozenset({"owner_patient", "owner_doctor", "admin"}),
    # prescriptions.policy.visible_prescriptions: its doctor, its patient (issued), an admin.
    "prescription_id": frozenset({"owner_patient", "owner_doctor", "admin"}),
    # reviews.policy.visible_reviews: its patient, its doctor, an admin.
    "review_id": frozenset({"owner_patient", "owner_doctor", "admin"}),
    # A doctor's time off is theirs alone (scheduling.schedules, filtered by doctor).
    "exception_id": frozenset({"owner_doctor"}),
    # Sessions, notifications and push subscriptions: their user's alone.
    "session_id": frozenset({"owner_patient"}),
    "notification_id": frozenset({"owner_patient"}),
    "subscription_id": frozenset({"owner_patient"}),
    # accounts.passkeys.own_passkey: a passkey is its user's alone.
    "passkey_id": frozenset({"owner_patient"}),
    # Named only by administrators' routes (see ADMIN below).
    "user_id": frozenset({"admin"}),
    "key_id": frozenset({"admin"}),
}

# Path parameters that name public objects or are credentials themselves: not tried.
PUBLIC: dict[str, str] = {
    "doctor_id": "a listed doctor is in the public directory (directory.policy.listed_doctor); "
    "an unlisted one answers 404 by that rule",
    "token": "the calendar feed's secret token is the credential (stored hashed, revocable)",
    "code": "a printed prescription's verification code, checked by pharmacists without an "
    "account (validity, date and doctor only)",
}

# Administrators' routes may name objects that have no factory (they are tried as every
# non-administrator, refused by role before any object is loaded): a random id stands in.
ADMIN_ONLY: dict[str, str] = {
    "delivery_id": "a notification delivery, seen only by administrators",
    "action": "what an administrator does to a user's account (approve, enable, ...)",
}

# A valid body for each write route that needs one, so that the call reaches the service's
# visibility check instead of stopping at validation (a 422 fails the matrix: add the body here).
BODIES: dict[str, dict[str, Any]] = {
    "POST /api/v1/appointments": {
        "starts_at": datetime.combine(
            next_weekday(3), time(11), tzinfo=ZoneInfo("Europe/Berlin")
        ).isoformat(),
        "type": "video",
    },
    "POST /api/v1/appointments/{appointment_id}/cancel": {"reason": "Feeling better"},
    "POST /api/v1/appointments/{appointment_id}/reschedule": {
        "starts_at": datetime.combine(
            next_weekday(3), time(11), tzinfo=ZoneInfo("Europe/Berlin")
        ).isoformat()
    },
    "POST /api/v1/appointments/{appointment_id}/prescriptions": prescription_body(),
    "PATCH /api/v1/prescriptions/{prescription_id}": {"notes": "Review in two weeks."},
    "POST /api/v1/prescriptions/{prescription_id}/cancel": {"reason": "Written in error"},
    "POST /api/v1/appointments/{appointment_id}/review": {"rating": 5, "comment": "Kind."},
    "PATCH /api/v1/reviews/{review_id}": {"rating": 5},
    "POST /api/v1/reviews/{review_id}/reply": {"reply": "Thank you."},
    "PATCH /api/v1/auth/passkeys/{passkey_id}": {"name": "Taken over"},
}

# Body fields that end in ``_id`` (or hold a uuid) but name no object, with the reason.
NOT_OBJECTS: dict[str, str] = {}

# Real-time topics (the gateway's registered rules): a prefix topic names an object, made by
# the factory of the path parameter given here, seen by the actors given; an exact topic is
# declared in PUBLIC_TOPICS with the reason. Subscribing is authorized like a read.
TOPICS: dict[str, tuple[str, frozenset[str]]] = {
    "user.": ("user_id", frozenset({"owner_patient"})),  # a person's own stream
}
PUBLIC_TOPICS: dict[str, str] = {
    "doctors.presence": "listed doctors' status, as the directory shows it to every signed-in "
    "person",
}

# Query parameters that name an object (a uuid in the OpenAPI document) -> the path parameter
# of FACTORIES whose object they name. A list filtered by someone else's id must hold nothing of
# theirs for a caller not entitled to it.
QUERY_IDS: dict[str, str] = {
    "patient": "user_id",  # GET /api/v1/prescriptions?patient=: a doctor's filter by patient
}


def _is_uuid(schema: dict[str, Any]) -> bool:
    return schema.get("format") == "uuid" or any(_is_uuid(s) for s in schema.get("anyOf", []))


def query_id_routes(openapi: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Every (method, path, query parameter) of the API whose query names an object."""
    return [
        (method.upper(), path, parameter["name"])
        for path, operations in openapi["paths"].items()
        for method, operation in operations.items()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query" and _is_uuid(parameter["schema"])
    ]


def body_id_fields(openapi: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Every (method, path, field) of the API whose JSON body names an object (a uuid, or a
    field named ``*_id``, at the top of the body)."""
    schemas = openapi["components"]["schemas"]
    found = []
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            schema = content.get("application/json", {}).get("schema", {})
            while "$ref" in schema:
                schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
            for name, field_schema in schema.get("properties", {}).items():
                if name.endswith("_id") or _is_uuid(field_schema):
                    found.append((method.upper(), path, name))
    return found


# The form fields of each page route that posts one, beside its CSRF token, so that the post
# reaches the service's visibility check.
FORMS: dict[str, dict[str, str]] = {
    "/account/passkeys/{passkey_id}/rename": {"name": "Taken over"},
}

PARAMETER = re.compile(r"{(\w+)}")


@dataclass(frozen=True)
class IdRoute:
    method: str
    path: str
    parameters: tuple[str, ...]
    admin: bool  # the route requires an administrator
    page: bool = False  # a web page (or a download) rather than the API


def id_routes(routes: Sequence[BaseRoute], pages: bool = False) -> list[IdRoute]:
    """Every API route (or, with ``pages``, every web page route) with a path parameter, and
    every administrators' route, one per method."""
    found = []
    for context in iter_route_contexts(routes):
        path = str(context.path_format)
        dependant = getattr(context, "dependant", None)
        parameters = tuple(PARAMETER.findall(path))
        surface = (
            "static"
            if path.startswith("/static")
            else "api"
            if path.startswith("/api/")
            else "page"
        )
        if surface != ("page" if pages else "api") or dependant is None:
            continue
        admin = bool({admin_actor, web_admin} & declared_callers(dependant))
        if not parameters and not admin:
            continue
        for method in sorted(context.methods or ()):
            if method != "HEAD":
                found.append(IdRoute(method, path, parameters, admin, pages))
    return found


# -- messaging ---------------------------------------------------------------------------------
# The booked appointment's conversation (opened by the booking), with a message of the owner
# patient carrying a private word.


async def _conversation(world: OwnerWorld) -> str:
    async with world.database.transaction() as db:
        found = await db.scalar(
            select(Conversation.id).where(Conversation.appointment_id == uuid.UUID(world.booked))
        )
    assert found is not None, "booking opens the appointment's conversation"
    return str(found)


async def _message(world: OwnerWorld) -> str:
    if "conversation_id" not in world.made:
        world.made["conversation_id"] = await _conversation(world)
    path = f"/api/v1/conversations/{world.made['conversation_id']}/messages"
    return await _made(world, path, {"client_id": str(uuid.uuid4()), "text": NOTE}, "owner_patient")


async def _owner_patient_id(world: OwnerWorld) -> str:
    return str(world.people["owner_patient"].user.id)


FACTORIES["conversation_id"] = _conversation
FACTORIES["patient_id"] = _owner_patient_id  # named in a body only (a doctor's care thread)
FACTORIES["message_id"] = _message
# messaging.policy.visible_conversations: its members; visible_metadata: an admin too (members,
# counts, dates; never a message: the message routes answer an admin 404, tests/messaging).
ENTITLED["conversation_id"] = frozenset({"owner_patient", "owner_doctor", "admin"})
# A message: its conversation's members (the sender changes it; the other member is refused).
ENTITLED["message_id"] = frozenset({"owner_patient"})
BODIES["POST /api/v1/conversations"] = {"doctor_id": "8d3c1f0e-6f5a-4b8e-9b1e-1a2b3c4d5e6f"}
BODIES["POST /api/v1/conversations/{conversation_id}/messages"] = {
    "client_id": "8d3c1f0e-6f5a-4b8e-9b1e-1a2b3c4d5e6f",
    "text": "Hello",
}
BODIES["PATCH /api/v1/conversations/{conversation_id}/messages/{message_id}"] = {"text": "Edited"}
BODIES["POST /api/v1/conversations/{conversation_id}/read"] = {"seq": 1}
BODIES["POST /api/v1/conversations/{conversation_id}/members"] = {
    "user_id": "8d3c1f0e-6f5a-4b8e-9b1e-1a2b3c4d5e6f"
}
# Ids in bodies that name no object: the sender's own idempotency key (a retry by its sender
# answers the first message; another person's key is only theirs in their own conversations).
NOT_OBJECTS["client_id"] = "a message's id chosen by its sender's client (idempotency)"
FORMS["/conversations/{conversation_id}/messages"] = {
    "text": "Hello",
    "client_id": "3f2c1d0e-6f5a-4b8e-9b1e-1a2b3c4d5e6f",
}
TOPICS["conversation."] = ("conversation_id", frozenset({"owner_patient", "owner_doctor"}))


def missing_factories(routes: Sequence[IdRoute]) -> list[str]:
    """What to add for each route whose parameter names an object the registry does not know."""
    missing = []
    for route in routes:
        known = set(FACTORIES) | set(PUBLIC) | (set(ADMIN_ONLY) if route.admin else set())
        for name in route.parameters:
            if name not in known:
                missing.append(
                    f"{route.method} {route.path}: add a factory for {name!r} to FACTORIES and "
                    f"who may see it to ENTITLED in tests/factories/ownership.py (or declare it "
                    f"in PUBLIC with the reason)"
                )
    return missing


def tried_actors(route: IdRoute) -> list[str]:
    """The actor kinds the route is called as: everyone the policy does not entitle to every
    object the route names."""
    names = [name for name in route.parameters if name in ENTITLED]
    if route.admin:
        return ["owner_patient", "owner_doctor", "other_patient", "nurse", "anonymous"]
    if not names:
        return []
    return [actor for actor in ACTORS if not all(actor in ENTITLED[name] for name in names)]


async def owner_world(
    client: httpx.AsyncClient,
    database: Database,
    make_doctor: MakeDoctor,
    make_user: MakeUser,
    token_for: TokenFor,
) -> OwnerWorld:
    """The owner patient and doctor with their two appointments, and everyone else."""
    doctor, doctor_headers = await doctor_on_schedule(
        client, make_doctor, token_for, schedule_body()
    )
    other_doctor, _ = await doctor_on_schedule(client, make_doctor, token_for, schedule_body())
    people = {"owner_doctor": Person(doctor, doctor_headers)}
    people["other_doctor"] = Person(other_doctor, await token_for(other_doctor))
    for actor, role in (
        ("owner_patient", Role.patient),
        ("other_patient", Role.patient),
        ("nurse", Role.nurse),
        ("admin", Role.admin),
    ):
        user = await make_user(role)
        people[actor] = Person(user, await token_for(user))
    starts = datetime.combine(next_weekday(2), time(11), tzinfo=ZoneInfo("Europe/Berlin"))
    booked = await client.post(
        "/api/v1/appointments",
        json={
            "doctor_id": str(doctor.id),
            "starts_at": starts.isoformat(),
            "type": "video",
            "reason": REASON,
        },
        headers=people["owner_patient"].headers,
    )
    assert booked.status_code == 201, booked.text
    ended = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    completed = written_appointment(doctor.id, people["owner_patient"].user.id, "completed", ended)
    async with database.transaction() as db:
        db.add(completed)
    unlisted = await make_doctor(bio=UNLISTED, verified=False)
    return OwnerWorld(
        client, database, people, booked.json()["id"], str(completed.id), str(unlisted.id)
    )


def private_words(world: OwnerWorld) -> list[str]:
    """What no one outside the owner's world may read in an answer: the private texts, the
    owner patient's email, and the ids of every object made for the matrix."""
    owner = world.people["owner_patient"].user
    return [REASON, COMMENT, NOTE, CANARY, UNLISTED, owner.email, world.booked, world.completed]
