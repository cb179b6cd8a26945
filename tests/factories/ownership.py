"""The object-level authorization matrix's registry: for every path parameter that names an
object, a factory that makes one such object for an owner, and who the domain's policy lets see
it (``visible_*`` in each domain's ``policy.py``); parameters that name public objects are
declared with the reason. ``tests/test_authorization_matrix.py`` walks the application's routes
with it, and fails on a route whose parameter is in neither table: a new domain registers its
objects here. The same holds for ids in query strings (``QUERY_IDS``), in request bodies and
page forms (the fields name a parameter of ``FACTORIES``, or are mapped to one in ``FORM_IDS``)
and in real-time topics (``TOPICS``).

The owner's world: a patient and their doctor (an upcoming appointment booked with a reason for
the visit, a completed one with a prescription and a review), the doctor's time off, the
patient's session, notification and push subscription, and an administrator's API key.
"""

from __future__ import annotations

import functools
import re
import typing
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import jwt
from fastapi import params
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel
from sqlalchemy import delete, select
from starlette.routing import BaseRoute

from carebridge.accounts.actors import admin_actor
from carebridge.accounts.models import Role, User, UserStatus
from carebridge.messaging.models import Conversation
from carebridge.notifications.models import Notification
from carebridge.platform.access import declared_callers
from carebridge.platform.db import Database
from carebridge.video.models import Call, CallParticipant
from carebridge.web.session import web_admin
from tests.factories.directory import MakeDoctor
from tests.factories.files import png
from tests.factories.passkeys import registered
from tests.factories.prescriptions import CANARY
from tests.factories.prescriptions import body as prescription_body
from tests.factories.records_diary import ENTRIES, made_records
from tests.factories.scheduling import (
    doctor_on_schedule,
    next_weekday,
    schedule_body,
    written_appointment,
)
from tests.factories.users import PASSWORD, PASSWORD_HASH, MakeUser, Person, TokenFor
from tests.factories.visits import on_roster, visit_body

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


async def _observation(world: OwnerWorld) -> str:
    body = {"kind": "heart_rate", "value": 72, "note": NOTE}
    return await _made(world, "/api/v1/records/observations", body, "owner_patient")


async def _grant(world: OwnerWorld) -> str:
    body = {
        "grantee_id": str(world.people["owner_doctor"].user.id),
        "sections": ["all"],
        "expires_at": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
    }
    return await _made(world, "/api/v1/records/grants", body, "owner_patient")


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
    "patient_id": _owner_patient,
    "observation_id": _observation,
    "grant_id": _grant,
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
    # records.policy: a patient's record under /patients/{id}/records is read by a clinician
    # with a basis (the owner doctor: an upcoming appointment); the patient uses /records.
    "patient_id": frozenset({"owner_doctor"}),
    # A reading and a grant are their patient's (records/observations.py, records/access.py).
    "observation_id": frozenset({"owner_patient"}),
    "grant_id": frozenset({"owner_patient"}),
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
    "alert_id": "a security alert raised by the detection rules, seen only by administrators",
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
    "POST /api/v1/patients/{patient_id}/records/observations": {"kind": "heart_rate", "value": 64},
    "PATCH /api/v1/records/observations/{observation_id}": {"value": 80},
    "POST /api/v1/patients/{patient_id}/records/emergency-access": {
        "reason": "Unconscious in the emergency room, allergies unknown"
    },
}

# Body fields that end in ``_id`` (or hold a uuid) but name no object, with the reason.
NOT_OBJECTS: dict[str, str] = {
    "grantee_id": "the doctor or nurse a patient shares their own record with: it opens the "
    "caller's record to them, not theirs to the caller",
}

# Routes that by design let actors beyond ENTITLED act on the object they name, with the reason:
# they are not tried as those actors.
OPEN_TO: dict[str, tuple[frozenset[str], str]] = {
    "POST /api/v1/patients/{patient_id}/records/emergency-access": (
        frozenset({"other_doctor"}),
        "break the glass: any doctor may open a record in an emergency, with a reason; it is "
        "audited and the patient and the administrators are told (tests/records/test_access.py)",
    ),
}

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


def missing_topics(patterns: Sequence[str]) -> list[str]:
    """What to add for each registered topic the registry does not know."""
    unknown = [name for name in patterns if name not in TOPICS and name not in PUBLIC_TOPICS]
    what = (
        "add it to TOPICS in tests/factories/ownership.py (the FACTORIES parameter of the object "
        "it names and who may subscribe), or to PUBLIC_TOPICS with the reason"
    )
    return [f"topic {name!r}: {what}" for name in unknown]


def owner_topic(world: OwnerWorld, pattern: str) -> tuple[str, frozenset[str]]:
    """The topic of the owner's object a registered pattern names, and who may subscribe (a
    public topic: everyone signed in)."""
    if pattern in PUBLIC_TOPICS:
        return pattern, frozenset(world.people)
    kind, entitled = TOPICS[pattern]
    return pattern + world.made[kind], entitled


# Query parameters that name an object (a uuid in the OpenAPI document) -> the path parameter
# of FACTORIES whose object they name. A list filtered by someone else's id must hold nothing of
# theirs for a caller not entitled to it.
QUERY_IDS: dict[str, str] = {
    "patient": "user_id",  # GET /api/v1/prescriptions?patient=: a doctor's filter by patient
    "visit_id": "visit_id",  # GET /api/v1/visits/suggestions?visit_id=: the dispatchers'
}

# Who is entitled to each filter and what they find by it (the owner's object of that kind).
QUERY_FINDS: dict[str, tuple[str, str]] = {
    "patient": ("owner_doctor", "prescription_id"),
    "visit_id": ("admin", "visit_id"),  # the visit's suggestions name it
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


# Where a field sits in a request body: keys of objects, 0 for an array's first item
# (("lines", 0, "appointment_id")).
FieldPath = tuple[str | int, ...]


@dataclass(frozen=True)
class BodyId:
    """A field of an API route's JSON body that names an object, at any depth."""

    method: str
    path: str
    at: FieldPath
    name: str  # the field's own name: the FACTORIES parameter of the object it names


def names_an_object(name: str, schema: dict[str, Any]) -> bool:
    """A field named ``*_id`` (or ``*_ids``), or typed as a uuid (or a list of them)."""
    items = schema.get("items", {})
    return name.endswith(("_id", "_ids")) or _is_uuid(schema) or _is_uuid(items)


def schema_ids(
    schema: dict[str, Any],
    schemas: dict[str, Any],
    at: FieldPath = (),
    seen: frozenset[str] = frozenset(),
) -> list[FieldPath]:
    """Where the body ``schema`` names an object: in its properties, in nested objects, in the
    items of arrays and in every branch of ``anyOf``/``oneOf``/``allOf``, through references
    (each followed once on a path, so a recursive schema ends)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return []
        return schema_ids(schemas[name], schemas, at, seen | {name})
    found: list[FieldPath] = []
    for branch in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(branch, []):
            found += schema_ids(sub, schemas, at, seen)
    if "items" in schema:
        found += schema_ids(schema["items"], schemas, (*at, 0), seen)
    for name, field_schema in schema.get("properties", {}).items():
        resolved = field_schema
        while "$ref" in resolved:
            resolved = schemas[resolved["$ref"].rsplit("/", 1)[-1]]
        if names_an_object(name, resolved):
            found.append((*at, name, 0) if resolved.get("type") == "array" else (*at, name))
        found += schema_ids(field_schema, schemas, (*at, name), seen)
    return list(dict.fromkeys(found))


def body_id_fields(openapi: dict[str, Any]) -> list[BodyId]:
    """Every field of the API's JSON bodies that names an object, however deep it sits."""
    schemas = openapi["components"]["schemas"]
    found = []
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            schema = content.get("application/json", {}).get("schema", {})
            for at in schema_ids(schema, schemas):
                name = next(part for part in reversed(at) if isinstance(part, str))
                found.append(BodyId(method.upper(), path, at, name))
    return found


def placed(body: Any, at: FieldPath, value: str) -> Any:
    """A copy of ``body`` with ``value`` at ``at``: in the baseline's own nested objects and
    first array items where it has them, in new ones where it has none."""
    if not at:
        return value
    step, rest = at[0], at[1:]
    if isinstance(step, int):
        items = list(body) if isinstance(body, list) and body else [{}]
        return [placed(items[0], rest, value), *items[1:]]
    copy = dict(body) if isinstance(body, dict) else {}
    copy[step] = placed(copy.get(step), rest, value)
    return copy


# The form fields of each page route that posts one, beside its CSRF token, so that the post
# reaches the service's visibility check.
FORMS: dict[str, dict[str, str]] = {
    "/account/passkeys/{passkey_id}/rename": {"name": "Taken over"},
}

# Form fields (of page routes) and body fields that name an object without being called after
# it -> the FACTORIES parameter whose object they name. A field called ``<parameter>`` or
# ``*_id`` is found by its name.
FORM_IDS: dict[str, str] = {
    "patient_id": "user_id",  # a patient is a user
}


@dataclass(frozen=True)
class PageForm:
    """A page route that takes a posted form: its path parameters and the fields its handler
    declares (the CSRF token aside), and which of them name an object."""

    method: str
    path: str
    parameters: tuple[str, ...]
    fields: tuple[str, ...]
    id_fields: tuple[str, ...]
    admin: bool

    @property
    def route(self) -> IdRoute:
        return IdRoute(self.method, self.path, self.parameters, self.admin, page=True)


def _declared_fields(dependant: Dependant) -> list[tuple[str, Any]]:
    """(name, type) of every form field the route and its dependencies read: a form model's
    fields, or a single ``Form()`` parameter."""
    found: list[tuple[str, Any]] = []
    for param in dependant.body_params:
        if not isinstance(param.field_info, params.Form):
            continue
        annotation = param.field_info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found += [(name, f.annotation) for name, f in annotation.model_fields.items()]
        else:
            found.append((param.alias, annotation))
    for sub in dependant.dependencies:
        found += _declared_fields(sub)
    return found


def _uuid_typed(annotation: Any) -> bool:
    return annotation is uuid.UUID or uuid.UUID in typing.get_args(annotation)


def form_names_an_object(name: str, annotation: Any) -> bool:
    """A form field named ``*_id``/``*_ids`` or after a registered object, or typed a uuid
    (unless declared in NOT_OBJECTS)."""
    if name in NOT_OBJECTS:
        return False
    args = typing.get_args(annotation)
    return (
        names_an_object(name, {})
        or name in FACTORIES
        or name in FORM_IDS
        or _uuid_typed(annotation)
        or any(_uuid_typed(arg) for arg in args)
    )


def page_forms(routes: Sequence[BaseRoute]) -> list[PageForm]:
    """Every page route (outside the API and static files) that takes a posted form."""
    found = []
    for context in iter_route_contexts(routes):
        path = str(context.path_format)
        dependant = getattr(context, "dependant", None)
        if path.startswith(("/api/", "/static")) or dependant is None:
            continue
        declared = [(n, t) for n, t in _declared_fields(dependant) if n != "csrf_token"]
        posted = {name for name, _ in _declared_fields(dependant)}
        if not posted:  # no form at all (a script posting JSON)
            continue
        admin = web_admin in declared_callers(dependant)
        for method in sorted(set(context.methods or ()) - {"GET", "HEAD"}):
            found.append(
                PageForm(
                    method,
                    path,
                    tuple(PARAMETER.findall(path)),
                    tuple(name for name, _ in declared),
                    tuple(name for name, kind in declared if form_names_an_object(name, kind)),
                    admin,
                )
            )
    return found


def object_of_field(name: str) -> str | None:
    """The FACTORIES parameter (or ``doctor_id``) whose object a field names, if known."""
    kind = FORM_IDS.get(name, name)
    return kind if kind in FACTORIES or kind == "doctor_id" else None


def missing_form_factories(forms: Sequence[PageForm]) -> list[str]:
    """What to add for each form field naming an object the registry does not know."""
    return [
        f"{form.method} {form.path}: the form field {name!r} names an object: add a factory for "
        f"it to FACTORIES (and who may see it to ENTITLED), or map the field to one in FORM_IDS, "
        f"in tests/factories/ownership.py"
        for form in forms
        for name in form.id_fields
        if object_of_field(name) is None
    ]


def field_value(world: OwnerWorld, name: str) -> str:
    """The owner's object a field is set to (for ``doctor_id``: an unverified doctor, the only
    doctors not public)."""
    kind = object_of_field(name)
    assert kind is not None, name
    return world.unlisted if kind == "doctor_id" else world.made[kind]


def owner_ids(world: OwnerWorld) -> list[str]:
    """The ids of the owner's private objects (the owner patient and everything made for
    them): a row naming one must not change when anyone else posts."""
    ids = [str(world.people["owner_patient"].user.id), world.booked, world.completed]
    return list(dict.fromkeys([*ids, *world.made.values()]))


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


# -- message attachments -----------------------------------------------------------------------
# A photo (with a thumbnail) and a text file carrying a private word, sent by the owner patient
# in the booked appointment's conversation (multipart: the walk sends a form with a file where
# the operation takes one).


async def _attachment(world: OwnerWorld) -> str:
    if "conversation_id" not in world.made:
        world.made["conversation_id"] = await _conversation(world)
    answer = await world.client.post(
        f"/api/v1/conversations/{world.made['conversation_id']}/attachments",
        data={"client_id": str(uuid.uuid4()), "text": NOTE},
        files=[
            ("files", ("rash.png", png(), "image/png")),  # first: it has a thumbnail
            ("files", ("notes.txt", NOTE.encode(), "text/plain")),
        ],
        headers=world.headers("owner_patient"),
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["attachments"][0]["id"])


FACTORIES["attachment_id"] = _attachment
# messaging.attachments.get_attachment: its conversation's members; never an administrator
# (the files are content, not metadata).
ENTITLED["attachment_id"] = frozenset({"owner_patient", "owner_doctor"})
BODIES["POST /api/v1/conversations/{conversation_id}/attachments"] = {
    "client_id": "8d3c1f0e-6f5a-4b8e-9b1e-1a2b3c4d5e6f",
    "text": "Hello",
}


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
    opened = OPEN_TO.get(f"{route.method} {route.path}", (frozenset(), ""))[0]
    return [
        actor
        for actor in ACTORS
        if actor not in opened and not all(actor in ENTITLED[name] for name in names)
    ]


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


async def make_all(world: OwnerWorld) -> None:
    """Every object of FACTORIES, made for the owner (once)."""
    for name, factory in FACTORIES.items():
        if name not in world.made:
            world.made[name] = await factory(world)


def private_words(world: OwnerWorld) -> list[str]:
    """What no one outside the owner's world may read in an answer: the private texts, the
    owner patient's email, and the ids of every object made for the matrix."""
    owner = world.people["owner_patient"].user
    return [REASON, COMMENT, NOTE, CANARY, UNLISTED, owner.email, world.booked, world.completed]


# -- calls ---------------------------------------------------------------------------------------
# The booked appointment is a video consultation: its call's members are its patient and doctor
# (video.policy.is_member; an administrator is not one). The call routes name the appointment.
_PEER = "8d3c1f0e-6f5a-4b8e-9b1e-1a2b3c4d5e6f"
BODIES["POST /api/v1/appointments/{appointment_id}/call/admit"] = {"participant_id": _PEER}
BODIES["POST /api/v1/appointments/{appointment_id}/call/leave"] = {}
BODIES["POST /api/v1/appointments/{appointment_id}/call/stats"] = {"participant_id": _PEER}
BODIES["POST /api/v1/appointments/{appointment_id}/call/invite"] = {"user_id": _PEER}
TOPICS["call."] = ("appointment_id", frozenset({"owner_patient", "owner_doctor"}))


async def _participant(world: OwnerWorld) -> str:
    """The owner patient waiting in the booked appointment's call (written as a join writes
    it: the room opens only minutes before the appointment)."""
    now = datetime.now(UTC)
    async with world.database.transaction() as db:
        call = Call(appointment_id=uuid.UUID(world.booked))
        db.add(call)
        await db.flush()
        peer = CallParticipant(
            call_id=call.id,
            user_id=world.people["owner_patient"].user.id,
            role="patient",
            state="waiting",
            joined_at=now,
            last_seen_at=now,
        )
        db.add(peer)
        await db.flush()
        return str(peer.id)


FACTORIES["participant_id"] = _participant
# video.service: a peer is its call's members' to name (the doctor admits it, its person
# reports for it and leaves with it).
ENTITLED["participant_id"] = frozenset({"owner_patient", "owner_doctor"})


# -- health record: medications ------------------------------------------------------------------
# One of the owner patient's medications (taken at 08:00 since last week), its instructions
# carrying a private word. records.medication_doses.visible: the patient's record; a clinician
# reads it under /patients/{patient_id}/records on a basis of records.policy: the owner doctor
# has one (care: the booked appointment); a patient's own routes refuse them by role (403).


async def _medication(world: OwnerWorld) -> str:
    week_ago = (datetime.now(UTC) - timedelta(days=7)).date().isoformat()
    body = {
        "name": "Metformin 500 mg",
        "times": ["08:00"],
        "starts_on": week_ago,
        "instructions": NOTE,
    }
    return await _made(world, "/api/v1/records/medications", body, "owner_patient")


FACTORIES["medication_id"] = _medication
ENTITLED["medication_id"] = frozenset({"owner_patient", "owner_doctor"})
BODIES["PATCH /api/v1/records/medications/{medication_id}"] = {"dose": "2 tablets"}
BODIES["POST /api/v1/records/medications/{medication_id}/doses"] = {
    "local_date": (datetime.now(UTC) - timedelta(days=2)).date().isoformat(),
    "local_time": "08:00",
    "status": "taken",
}
BODIES["POST /api/v1/records/medications/from-prescription"] = {"prescription_id": _PEER}


# -- health record pages -------------------------------------------------------------------------
PUBLIC["kind"] = "an observation kind of the catalog (records/vitals.py), not an object"
NOT_OBJECTS["other_grantee_id"] = NOT_OBJECTS["grantee_id"]
OPEN_TO["POST /patients/{patient_id}/record/emergency"] = OPEN_TO[
    "POST /api/v1/patients/{patient_id}/records/emergency-access"
]
FORMS["/patients/{patient_id}/record/emergency"] = {"reason": "Unconscious, allergies unknown"}


# records: the diary sections and documents (records/diary.py, records/documents.py): the
# patient's; a document is read by clinicians too (the owner doctor's booked appointment is a
# care basis, records/policy.py). One of each is made at once (their factories share it).
async def _record(world: OwnerWorld, name: str) -> str:
    if name not in world.made:
        world.made.update(await made_records(world.client, world.headers("owner_patient"), NOTE))
    return world.made[name]


for _name, (_path, _body, _patch) in ENTRIES.items():
    FACTORIES[_name] = functools.partial(_record, name=_name)
    ENTITLED[_name] = frozenset({"owner_patient"})
    BODIES[f"POST {_path}"] = _body
    BODIES[f"PATCH {_path}/{{{_name}}}"] = _patch
FACTORIES["document_id"] = functools.partial(_record, name="document_id")
ENTITLED["document_id"] = frozenset({"owner_patient", "owner_doctor"})
FORMS["/records/medications/{medication_id}/doses"] = {
    "local_date": (datetime.now(UTC) - timedelta(days=2)).date().isoformat(),
    "local_time": "08:00",
    "status": "taken",
}
FORMS["/patients/{patient_id}/record/emergency"] = {
    "reason": "Unconscious in the emergency room, no relatives reachable."
}
OPEN_TO["POST /patients/{patient_id}/record/emergency"] = OPEN_TO[
    "POST /api/v1/patients/{patient_id}/records/emergency-access"
]
for _own in ("", "/medications"):  # the patient at the clinician's address: sent to /records
    OPEN_TO[f"GET /patients/{{patient_id}}/record{_own}"] = (
        frozenset({"owner_patient"}),
        "the patient named in the path is sent to their own pages (/records...)",
    )


# -- home visits ---------------------------------------------------------------------------------
# A visit the owner doctor ordered for the owner patient, assigned to the matrix's nurse, its
# access notes carrying a private word. visits.policy.visible_visits: its patient, the doctor who
# ordered it, the dispatchers and its nurse (another nurse only where the clinic lets nurses
# claim: off here); another doctor only while they review its report.


async def _visit(world: OwnerWorld) -> str:
    patient = str(world.people["owner_patient"].user.id)
    body = visit_body(access_notes=f"Key under the mat {NOTE}", patient_id=patient)
    made = await _made(world, "/api/v1/visits", body, "owner_doctor")  # ordered after a visit
    # Given to the matrix's nurse: the nurse's pages (web/nurse_visits.py) are the visit's
    # nurse's alone. Another nurse's 404 is tests/web/test_nurse_pages.py's and the visits tests'.
    nurse = world.people["nurse"].user
    await on_roster(world.database, nurse)
    assigned = await world.client.post(
        f"/api/v1/visits/{made}/assign",
        json={"nurse_id": str(nurse.id)},
        headers=world.headers("admin"),
    )
    assert assigned.status_code == 200, assigned.text
    # The dispatchers' notice of the new request names it: the matrix's administrator starts
    # without one (their "mark all read" would otherwise change a row naming the visit).
    async with world.database.transaction() as db:
        await db.execute(delete(Notification).where(Notification.data["visit_id"].astext == made))
    return made


async def _nurse(world: OwnerWorld) -> str:
    """A nurse of the roster other than the matrix's nurse actor."""
    async with world.database.transaction() as db:
        nurse = User(
            email=f"roster-nurse-{uuid.uuid4().hex[:8]}@clinic.example",
            name="Roster nurse",
            role=Role.nurse,
            status=UserStatus.active,
            password_hash=PASSWORD_HASH,
        )
        db.add(nurse)
    await on_roster(world.database, nurse)
    return str(nurse.id)


FACTORIES["visit_id"] = _visit
# The live position's topic: the visit's patient, its nurse and the dispatchers.
TOPICS["visit."] = ("visit_id", frozenset({"owner_patient", "admin", "nurse"}))
# The ordering doctor finds the visit too (not its live position: visits.policy).
ENTITLED["visit_id"] = frozenset({"owner_patient", "owner_doctor", "admin", "nurse"})
# A nurse's dispatch details: the nurse's own, and the dispatchers' (visits.roster).
FACTORIES["nurse_id"] = _nurse
ENTITLED["nurse_id"] = frozenset({"admin"})
BODIES["POST /api/v1/visits"] = visit_body()
BODIES["POST /api/v1/visits/{visit_id}/transitions"] = {"to": "cancelled"}
BODIES["POST /api/v1/visits/{visit_id}/assign"] = {"nurse_id": _PEER}
BODIES["PUT /api/v1/visit-nurses/{nurse_id}"] = {"skills": ["wound_care"], "radius_km": 10}


# A photo of a report still being written: another visit of the owner patient, taken by a nurse
# of the roster who is none of the matrix's actors, in progress, its report a draft. Only that
# nurse sees it (visits/report.py: the patient once signed off, a doctor once submitted).
async def _photo(world: OwnerWorld) -> str:
    async with world.database.transaction() as db:
        nurse = User(
            email=f"photo-nurse-{uuid.uuid4().hex[:8]}@clinic.example",
            name="Photo nurse",
            role=Role.nurse,
            status=UserStatus.active,
            password_hash=PASSWORD_HASH,
        )
        db.add(nurse)
    await on_roster(world.database, nurse)
    signed = await world.client.post(
        "/api/v1/auth/login", json={"email": nurse.email, "password": PASSWORD}
    )
    nurse_headers = {"Authorization": f"Bearer {signed.json()['access_token']}"}
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    body = visit_body(
        window_start=start.isoformat(), window_end=(start + timedelta(hours=2)).isoformat()
    )
    visit_id = await _made(world, "/api/v1/visits", body, "owner_patient")
    url = f"/api/v1/visits/{visit_id}"
    assigned = await world.client.post(
        f"{url}/assign", json={"nurse_id": str(nurse.id)}, headers=world.headers("admin")
    )
    assert assigned.status_code == 200, assigned.text
    for step in ("accepted", "en_route", "arrived", "in_progress"):
        moved = await world.client.post(
            f"{url}/transitions", json={"to": step}, headers=nurse_headers
        )
        assert moved.status_code == 200, (step, moved.text)
    added = await world.client.post(
        f"{url}/report/photos",
        files={"file": ("wound.png", png(), "image/png")},
        data={"caption": f"Left calf {NOTE}"},
        headers=nurse_headers,
    )
    assert added.status_code == 201, added.text
    async with world.database.transaction() as db:
        await db.execute(
            delete(Notification).where(Notification.data["visit_id"].astext == visit_id)
        )
    return str(added.json()["id"])


FACTORIES["photo_id"] = _photo
BODIES["PUT /api/v1/visits/{visit_id}/report"] = {"recommendations": "Rest the leg"}
BODIES["POST /api/v1/visits/{visit_id}/report/photos"] = {"file": "", "caption": "Left calf"}
BODIES["POST /api/v1/visits/{visit_id}/report/review"] = {"decision": "sign_off", "rating": 4}
ENTITLED["photo_id"] = frozenset()


# -- data exports --------------------------------------------------------------------------------
# The owner patient's export (pending: the matrix runs no worker). compliance.export.get_export:
# the patient's alone; an administrator who asks for one on a patient's behalf never reads it.


async def _export(world: OwnerWorld) -> str:
    answer = await world.client.post("/api/v1/me/exports", headers=world.headers("owner_patient"))
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


FACTORIES["export_id"] = _export
ENTITLED["export_id"] = frozenset({"owner_patient"})
