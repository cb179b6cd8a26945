"""Every sealed column of patient data seals a new value under its patient's data key of its
class (``cb2``), and every sealed column answers a damaged value the same way: 500
problem+json ``unreadable`` (never a generic ``internal_error``), and a ``sealed.unreadable``
audit row naming the column and the row. The columns come from the registry
(``registry.SEALED_COLUMN_MODULES``), so a column added later fails here until it says how a row
is made and which requests open it.

Most values are shown by a route that reads them back; two never are, and are opened by the
routes that use them: a signing key's private half by sign-in (it signs the tokens), a TOTP
secret by the second sign-in step and by turning two-step sign-in off. A list of messages is the
one exception to the 500: the damaged message is marked ``unreadable`` (audited the same way)
and the others in the page stay readable."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pyotp
import pytest
from sqlalchemy import select, update

from carebridge.accounts.models import Role, SigningKey, User
from carebridge.compliance.models import AuditEvent
from carebridge.platform.crypto import KeyClass, SealedColumn, forget_data_keys, patient_key_of
from carebridge.platform.db import Database
from carebridge.platform.reencrypt import load_sealed_columns, owner_of_rows
from carebridge.platform.registry import load_models
from carebridge.scheduling.models import Appointment
from carebridge.scheduling.sealed import REASON as SCHEDULING_REASON
from carebridge.visits.models import VisitTransition
from tests.factories import PASSWORD, Headers, MakeUser, SignIn, TokenFor, files
from tests.factories.prescriptions import MakeConsultation
from tests.factories.records import add_observation
from tests.factories.records_diary import CASES, add_entry
from tests.factories.scheduling import next_weekday
from tests.factories.visits import visit_body
from tests.factories.visits_report import completed_visit
from tests.factories.web import csrf, sign_in_browser

HTML = {"accept": "text/html"}

Read = Callable[[], Awaitable[httpx.Response]]


@dataclass
class Made:
    """A row with a value in the column (its key columns), and the requests that open it."""

    row: dict[str, Any]
    reads: list[Read]
    # A list of values (messages) answers 200 with the damaged one marked ``unreadable`` and
    # the others readable, instead of failing the whole request.
    per_item: bool = False


@dataclass
class World:
    client: httpx.AsyncClient
    database: Database
    make_user: MakeUser
    token_for: TokenFor
    sign_in: SignIn
    scheduled_doctor: Callable[..., Awaitable[Any]]
    consultation: MakeConsultation
    write: Callable[..., Awaitable[dict[str, Any]]]


Scenario = Callable[[World], Awaitable[Made]]


@dataclass
class Booking:
    id: uuid.UUID
    patient: User
    patient_headers: Headers
    doctor_headers: Headers


async def _booking(world: World) -> Booking:
    """An appointment booked through the API, with a reason for the visit."""
    doctor, doctor_headers = await world.scheduled_doctor()
    patient = await world.make_user(Role.patient)
    headers = await world.token_for(patient)
    booked = await world.client.post(
        "/api/v1/appointments",
        json={
            "doctor_id": str(doctor.id),
            "starts_at": f"{next_weekday(2).isoformat()}T10:00:00+00:00",
            "type": "video",
            "reason": "Chest pain since Tuesday",
        },
        headers=headers,
    )
    assert booked.status_code == 201, booked.text
    return Booking(uuid.UUID(booked.json()["id"]), patient, headers, doctor_headers)


async def _appointment_reason(world: World) -> Made:
    booking = await _booking(world)
    url = f"/api/v1/appointments/{booking.id}"
    return Made(
        {"id": booking.id},
        [
            lambda: world.client.get(url, headers=booking.patient_headers),
            lambda: world.client.get(url, headers=booking.doctor_headers),
        ],
    )


async def _patient_key(world: World) -> Made:
    """A patient's data key (made by their first booking with a reason), read again from its
    row by the reads of their appointment once this process's cache has let it go."""
    made = await _appointment_reason(world)
    async with world.database.transaction() as db:
        patient_id = await db.scalar(
            select(Appointment.patient_id).where(Appointment.id == made.row["id"])
        )
    assert patient_id is not None
    forget_data_keys((patient_id, key_class) for key_class in KeyClass)
    return Made({"patient_id": patient_id, "key_class": "personal"}, made.reads)


async def _patient_profile(world: World) -> Made:
    patient = await world.make_user(Role.patient)
    headers = await world.token_for(patient)
    url = "/api/v1/patients/me/profile"
    saved = await world.client.put(
        url,
        json={
            "date_of_birth": "1984-03-09",
            "sex": "female",
            "phone": "+351912345678",
            "address": "12 Harbour Lane, Porto",
            "emergency_contact": {"name": "Rita Alves", "phone": "+351912345679"},
        },
        headers=headers,
    )
    assert saved.status_code == 200, saved.text
    return Made({"user_id": patient.id}, [lambda: world.client.get(url, headers=headers)])


async def _prescription(world: World) -> Made:
    visit = await world.consultation()
    draft = await world.write(visit)  # a draft: the database keeps an issued one unchanged
    url = f"/api/v1/prescriptions/{draft['id']}"
    return Made(
        {"id": uuid.UUID(draft["id"])},
        [lambda: world.client.get(url, headers=visit.doctor.headers)],
    )


async def _totp_secret(world: World) -> Made:
    me = await world.sign_in()
    setup = await world.client.post("/api/v1/auth/mfa/totp/setup", headers=me.headers)
    secret = setup.json()["secret"]
    enabled = await world.client.post(
        "/api/v1/auth/mfa/totp/enable",
        json={"code": pyotp.TOTP(secret).at(time.time() - 30)},
        headers=me.headers,
    )
    assert enabled.status_code == 200, enabled.text

    async def second_step() -> httpx.Response:
        login = await world.client.post(
            "/api/v1/auth/login", json={"email": me.email, "password": PASSWORD}
        )
        assert login.json()["mfa_required"] is True, login.text
        return await world.client.post(
            "/api/v1/auth/mfa/verify",
            json={"mfa_token": login.json()["mfa_token"], "code": pyotp.TOTP(secret).now()},
        )

    async def turn_off() -> httpx.Response:
        return await world.client.post(
            "/api/v1/auth/mfa/totp/disable",
            json={"password": PASSWORD, "code": pyotp.TOTP(secret).now()},
            headers=me.headers,
        )

    return Made({"id": me.user_id}, [second_step, turn_off])


async def _signing_key(world: World) -> Made:
    user = await world.make_user(Role.patient)
    await world.token_for(user)  # a current signing key exists; the app has not loaded it yet
    async with world.database.sessionmaker() as db:
        current = await db.scalar(
            select(SigningKey)
            .where(SigningKey.retired_at.is_(None))
            .order_by(SigningKey.created_at.desc())
            .limit(1)
        )
    assert current is not None
    return Made(
        {"id": current.id, "kid": current.kid},
        [
            lambda: world.client.post(
                "/api/v1/auth/login", json={"email": user.email, "password": PASSWORD}
            )
        ],
    )


async def _message(world: World) -> Made:
    """A message in an appointment's conversation, beside one that stays readable."""
    booking = await _booking(world)
    conversations = await world.client.get("/api/v1/conversations", headers=booking.patient_headers)
    conversation_id = conversations.json()["items"][0]["id"]
    url = f"/api/v1/conversations/{conversation_id}/messages"
    ids = []
    for text in ("Still chest pain at night", "And a cough"):
        sent = await world.client.post(
            url,
            json={"client_id": str(uuid.uuid4()), "text": text},
            headers=booking.patient_headers,
        )
        assert sent.status_code == 201, sent.text
        ids.append(uuid.UUID(sent.json()["id"]))
    return Made(
        {"id": ids[0]},
        [
            lambda: world.client.get(url, headers=booking.patient_headers),
            lambda: world.client.get(url, headers=booking.doctor_headers),
        ],
        per_item=True,
    )


async def _observation_note(world: World) -> Made:
    visit = await world.consultation("completed")
    made = await add_observation(world.client, visit.patient.headers)
    patient = visit.patient.user.id
    return Made(
        {"id": uuid.UUID(made["id"])},
        [
            lambda: world.client.get("/api/v1/records/observations", headers=visit.patient.headers),
            lambda: world.client.get(
                f"/api/v1/patients/{patient}/records/observations", headers=visit.doctor.headers
            ),
        ],
    )


async def _emergency_reason(world: World) -> Made:
    visit = await world.consultation("completed")
    stranger = await world.make_user(Role.patient)
    opened = await world.client.post(
        f"/api/v1/patients/{stranger.id}/records/emergency-access",
        json={"reason": "Unconscious on arrival, no relatives reachable"},
        headers=visit.doctor.headers,
    )
    assert opened.status_code == 201, opened.text
    admin = await world.token_for(await world.make_user(Role.admin))
    url = "/api/v1/admin/records/emergency-accesses"
    return Made(
        {"id": uuid.UUID(opened.json()["id"])}, [lambda: world.client.get(url, headers=admin)]
    )


async def _medication_instructions(world: World) -> Made:
    """A medication of the patient's list, with instructions, read alone and in the list."""
    patient = await world.make_user(Role.patient)
    headers = await world.token_for(patient)
    body = {"name": "Warfarin 5 mg", "times": ["18:00"], "instructions": "Check INR weekly"}
    added = await world.client.post("/api/v1/records/medications", json=body, headers=headers)
    assert added.status_code == 201, added.text
    url = f"/api/v1/records/medications/{added.json()['id']}"
    return Made(
        {"id": uuid.UUID(added.json()["id"])},
        [
            lambda: world.client.get(url, headers=headers),
            lambda: world.client.get("/api/v1/records/medications", headers=headers),
        ],
    )


def _record_note(section: str) -> Scenario:
    """An entry of a diary section of the health record, read back in the patient's list."""

    async def made(world: World) -> Made:
        patient = await world.make_user(Role.patient)
        headers = await world.token_for(patient)
        entry = await add_entry(world.client, headers, section)
        path = f"/api/v1/records/{section}"
        return Made(
            {"id": uuid.UUID(entry["id"])}, [lambda: world.client.get(path, headers=headers)]
        )

    return made


async def _visit(world: World) -> tuple[str, Headers, Headers]:
    """A home visit a patient asked for, and the headers of the patient and a dispatcher."""
    patient = await world.token_for(await world.make_user(Role.patient))
    made = await world.client.post("/api/v1/visits", json=visit_body(), headers=patient)
    assert made.status_code == 201, made.text
    admin = await world.token_for(await world.make_user(Role.admin))
    return made.json()["id"], patient, admin


async def _visit_field(world: World) -> Made:
    """The visit's address, access notes and reason: its page and the dispatcher's list."""
    visit_id, patient, admin = await _visit(world)
    url = f"/api/v1/visits/{visit_id}"
    return Made(
        {"id": uuid.UUID(visit_id)},
        [
            lambda: world.client.get(url, headers=patient),
            lambda: world.client.get("/api/v1/visits", headers=admin),
        ],
    )


async def _transition_reason(world: World) -> Made:
    visit_id, patient, admin = await _visit(world)
    url = f"/api/v1/visits/{visit_id}"
    cancelled = await world.client.post(
        f"{url}/transitions",
        json={"to": "cancelled", "reason": "I am in hospital"},
        headers=patient,
    )
    assert cancelled.status_code == 200, cancelled.text
    async with world.database.transaction() as db:
        row_id = await db.scalar(
            select(VisitTransition.id).where(
                VisitTransition.visit_id == uuid.UUID(visit_id), VisitTransition.seq == 2
            )
        )
    return Made({"id": row_id}, [lambda: world.client.get(url, headers=admin)])


async def _visit_report(world: World, *, review: str | None = None, caption: bool = False) -> Made:
    """A home visit's report, saved by its nurse (with a photo's caption), sent back or signed
    off by a doctor; the nurse reads it back (the care team sees every sealed part)."""
    made = await completed_visit(world.client, world.database, world.make_user, world.token_for)
    saved = await world.client.put(
        made.url, json={"recommendations": "Rest the leg"}, headers=made.nurse
    )
    assert saved.status_code == 200, saved.text
    row: dict[str, Any] = {"visit_id": made.visit_id}
    if caption:
        photo = await world.client.post(
            f"{made.url}/photos",
            files={"file": ("wound.png", files.png(), "image/png")},
            data={"caption": "Left calf"},
            headers=made.nurse,
        )
        assert photo.status_code == 201, photo.text
        row = {"id": uuid.UUID(photo.json()["id"])}
    if review is not None:
        submitted = await world.client.post(f"{made.url}/submit", headers=made.nurse)
        assert submitted.status_code == 200, submitted.text
        body = {"decision": review, "rating": 4, "feedback": "Clear", "changes": "Add the pulse"}
        reviewed = await world.client.post(f"{made.url}/review", json=body, headers=made.doctor)
        assert reviewed.status_code == 200, reviewed.text
    return Made(row, [lambda: world.client.get(made.url, headers=made.nurse)])


async def _report_body(world: World) -> Made:
    return await _visit_report(world)


async def _report_changes(world: World) -> Made:
    return await _visit_report(world, review="request_changes")


async def _report_feedback(world: World) -> Made:
    return await _visit_report(world, review="sign_off")


async def _photo_caption(world: World) -> Made:
    return await _visit_report(world, caption=True)


SCENARIOS: dict[str, Scenario] = {
    "record_medications.instructions_sealed": _medication_instructions,
    "messages.body_sealed": _message,
    "appointments.reason_sealed": _appointment_reason,
    "patient_keys.key_sealed": _patient_key,
    "patient_profiles.date_of_birth_sealed": _patient_profile,
    "patient_profiles.address_sealed": _patient_profile,
    "patient_profiles.emergency_contact_sealed": _patient_profile,
    "prescriptions.diagnosis_sealed": _prescription,
    "prescriptions.notes_sealed": _prescription,
    "users.totp_secret": _totp_secret,
    "signing_keys.private_key": _signing_key,
    "record_observations.note_sealed": _observation_note,
    "record_emergency_accesses.reason_sealed": _emergency_reason,
    **{f"{case.table}.note_sealed": _record_note(case.section) for case in CASES},
    **{
        f"home_visits.{field}_sealed": _visit_field
        for field in ("address", "access_notes", "reason")
    },
    "visit_transitions.reason_sealed": _transition_reason,
    "visit_reports.body_sealed": _report_body,
    "visit_reports.changes_sealed": _report_changes,
    "visit_reports.feedback_sealed": _report_feedback,
    "visit_photos.caption_sealed": _photo_caption,
}


@pytest.fixture
def world(
    client: httpx.AsyncClient,
    database: Database,
    make_user: MakeUser,
    token_for: TokenFor,
    sign_in: SignIn,
    scheduled_doctor: Callable[..., Awaitable[Any]],
    consultation: MakeConsultation,
    write: Callable[..., Awaitable[dict[str, Any]]],
) -> World:
    return World(
        client, database, make_user, token_for, sign_in, scheduled_doctor, consultation, write
    )


async def _assert_under_its_patient_key(
    database: Database, column: SealedColumn, row: dict[str, Any]
) -> None:
    """A value of patient data written today is ``cb2``, under the data key of the row's
    patient and of the column's class; any other column's value is sealed by the keyring."""
    table = load_models().tables[column.table]
    where = [table.c[name] == row[name] for name in column.key]
    owner = None if column.key_class is None else owner_of_rows(column)
    async with database.transaction() as db:
        value, patient_id = (
            await db.execute(select(table.c[column.column], owner).where(*where))
        ).one()
    if column.key_class is None:
        assert value.startswith(b"cb1"), column.name
        return
    assert value.startswith(b"cb2"), column.name
    assert patient_key_of(value)[:2] == (patient_id, column.key_class), column.name


async def _flip_a_bit(database: Database, column: SealedColumn, row: dict[str, Any]) -> None:
    table = load_models().tables[column.table]
    where = [table.c[name] == row[name] for name in column.key]
    async with database.transaction() as db:
        sealed = await db.scalar(select(table.c[column.column]).where(*where))
        assert isinstance(sealed, bytes), f"{column.name}: the scenario left it empty"
        damaged = bytearray(sealed)
        damaged[-5] ^= 0x01  # inside the ciphertext, before the tag
        await db.execute(update(table).where(*where).values({column.column: bytes(damaged)}))


@pytest.mark.parametrize("column", load_sealed_columns(), ids=lambda column: column.name)
async def test_a_damaged_value_answers_unreadable_and_is_audited(
    column: SealedColumn, world: World, database: Database
) -> None:
    scenario = SCENARIOS.get(column.name)
    assert scenario is not None, f"{column.name} is sealed: say here how it is made and read"
    made = await scenario(world)
    await _assert_under_its_patient_key(database, column, made.row)
    await _flip_a_bit(database, column, made.row)

    for read in made.reads:
        answer = await read()
        if made.per_item:
            items = {item["id"]: item for item in answer.json()["items"]}
            damaged = items.pop(str(made.row["id"]))
            assert (answer.status_code, damaged["state"], damaged["text"]) == (
                200,
                "unreadable",
                None,
            ), answer.text
            assert items
            assert all(item["state"] == "ok" for item in items.values())
            continue
        assert answer.status_code == 500, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["code"] == "unreadable"
        assert answer.json()["title"] == "Stored data could not be read"

    async with database.sessionmaker() as db:
        audited = list(
            await db.scalars(
                select(AuditEvent).where(
                    AuditEvent.action == "sealed.unreadable",
                    AuditEvent.resource_id == "/".join(str(made.row[k]) for k in column.key),
                )
            )
        )
    assert len(audited) == len(made.reads)
    for row in audited:
        assert (row.outcome, row.resource_type) == ("failure", column.table)
        assert row.details["column"] == column.name
        assert row.details["reason"] == "ciphertext damaged or bound to other data"
        assert row.request_id is not None


def test_every_sealed_column_has_a_scenario() -> None:
    """Also when a test run is filtered: a new column is not covered until it is listed."""
    assert {column.name for column in load_sealed_columns()} == set(SCENARIOS)


async def test_the_pages_answer_a_damaged_value_with_the_error_page_and_audit_it(
    world: World, database: Database
) -> None:
    """A form that fails on stored data shows the error page (a 500, nothing to fix in the
    form), and the read is on the audit trail with the signed-in person as its actor."""
    booking = await _booking(world)
    appointment_id, patient = booking.id, booking.patient
    await _flip_a_bit(database, SCHEDULING_REASON, {"id": appointment_id})
    signed = await sign_in_browser(world.client, patient.email)
    assert signed.status_code == 303, signed.text

    page = await world.client.get(f"/appointments/{appointment_id}", headers=HTML)
    token = csrf(await world.client.get("/appointments", headers=HTML))
    cancelled = await world.client.post(
        f"/appointments/{appointment_id}/act",
        # Back to the list: a page that does not show the reason, so only the error shows it.
        data={"move": "cancel", "back": "list", "csrf_token": token},
        headers=HTML,
    )
    for answer in (page, cancelled):
        assert answer.status_code == 500, answer.text
        assert answer.headers["content-type"].startswith("text/html")
        assert "Chest pain" not in answer.text
    async with database.sessionmaker() as db:
        actors = list(
            await db.scalars(
                select(AuditEvent.actor_id).where(
                    AuditEvent.action == "sealed.unreadable",
                    AuditEvent.resource_id == str(appointment_id),
                )
            )
        )
    assert actors == [patient.id, patient.id]


def test_every_column_of_patient_data_names_its_key_class() -> None:
    """Only these are sealed by the keyring itself; any other column holds a patient's data and
    must say which of their data keys seals it (``key_class``) and who the patient is."""
    by_keyring = {column.name for column in load_sealed_columns() if column.key_class is None}
    assert by_keyring == {
        "signing_keys.private_key",
        "users.totp_secret",
        "patient_keys.key_sealed",
    }
