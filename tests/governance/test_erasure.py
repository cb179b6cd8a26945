"""Erasure: a patient asks, may cancel during the grace period, and is then erased; what the law
keeps is held, then purged.

The canary test makes one of every object the authorization matrix knows for a patient (the
matrix's owner world: appointments, messages and attachments, prescriptions, reviews, record
sections, home visits and report photos, sessions, notifications, push subscriptions,
passkeys ...) plus a profile with private words, erases the patient, and then searches every
table of the schema (generated from the database's catalogue), every sealed value that still
opens and every stored file for the private words: none may remain outside the tables the
erasure rules hold.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, text, update

from carebridge.accounts.models import Role, User
from carebridge.compliance.models import AuditEvent
from carebridge.config import Settings
from carebridge.governance import erasure as service
from carebridge.governance.erasure_models import ErasureFile, ErasureRequest
from carebridge.messaging.attachment_models import Attachment
from carebridge.platform import erasure, patient_keys
from carebridge.platform.crypto import DataKeyNotLoaded, Keyring, Unreadable, owners_of
from carebridge.platform.db import Database
from carebridge.platform.reencrypt import load_sealed_columns
from carebridge.platform.registry import ERASURE_MODULES, SEALED_COLUMN_MODULES, load_models
from carebridge.platform.storage import FileMissing, storage_for
from carebridge.prescriptions.models import Prescription
from tests.factories import MakeUser, TokenFor
from tests.factories.directory import MakeDoctor
from tests.factories.ownership import (
    COMMENT,
    NOTE,
    REASON,
    OwnerWorld,
    make_all,
    owner_world,
)
from tests.factories.prescriptions import CANARY
from tests.factories.scheduling import doctor_on_schedule, next_weekday, schedule_body

API = "/api/v1/me/erasure"
ADDRESS = "zqaddress-12-canary-lane-77e1"
CONTACT = "Zqcontact Canaryperson"
NAME = "Zqname Canarypatient"
PHONE = "+14155550199"
RULES = erasure.rules(ERASURE_MODULES)
HELD = frozenset(rule.table for rule in RULES if rule.at_erasure != "delete")
# The audit trail is kept whole for at least six years (HIPAA 164.316(b)(2)); it holds ids and
# reasons only (never PHI), and the retention job purges it.
KEPT_BY_LAW = HELD | {"audit_events", "erasure_requests"}
# The matrix's world gives the owner doctor's time off the same private note: the doctor's data.
NOT_THE_PATIENTS = {"schedule_exceptions"}


# -- asking and cancelling ------------------------------------------------------------------------


async def test_callers_refused(
    client: httpx.AsyncClient, make_user: MakeUser, token_for: TokenFor
) -> None:
    assert (await client.post(API)).status_code == 401
    doctor = await make_user(Role.doctor)
    answer = await client.post(API, headers=await token_for(doctor))
    assert answer.status_code == 403
    answer = await client.delete(API, headers=await token_for(doctor))
    assert answer.status_code == 403


async def test_ask_see_and_cancel(
    client: httpx.AsyncClient,
    database: Database,
    make_user: MakeUser,
    token_for: TokenFor,
    settings: Settings,
) -> None:
    patient = await make_user(Role.patient)
    headers = await token_for(patient)
    assert (await client.get(API, headers=headers)).json()["code"] == "no_erasure"
    before = datetime.now(UTC)
    asked = await client.post(API, headers=headers)
    assert asked.status_code == 202, asked.text
    body = asked.json()
    assert body["status"] == "scheduled"
    due = datetime.fromisoformat(body["due_at"])
    grace = timedelta(days=settings.erasure_grace_days)
    assert before + grace <= due <= datetime.now(UTC) + grace
    again = await client.post(API, headers=headers)
    assert (again.status_code, again.json()["code"]) == (409, "erasure_pending")
    assert (await client.get(API, headers=headers)).json()["id"] == body["id"]

    cancelled = await client.delete(API, headers=headers)
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert (await client.delete(API, headers=headers)).json()["code"] == "no_erasure"
    async with database.transaction() as db:
        actions = (
            await db.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.subject_id == patient.id)
                .order_by(AuditEvent.seq)
            )
        ).all()
        told = (
            (
                await db.execute(
                    text("SELECT kind FROM notifications WHERE recipient_id = :id"),
                    {"id": patient.id},
                )
            )
            .scalars()
            .all()
        )
    assert actions == ["erasure.requested", "erasure.cancelled"]
    assert sorted(told) == ["erasure_cancelled", "erasure_scheduled"]
    # A cancelled request is not carried out, and a new one may be asked.
    assert await service.erase_due(database, settings, storage_for(settings), due + grace) == []
    assert (await client.post(API, headers=headers)).status_code == 202


async def test_refused_while_care_is_ahead_and_postponed_if_booked_during_grace(
    client: httpx.AsyncClient,
    database: Database,
    make_doctor: MakeDoctor,
    make_user: MakeUser,
    token_for: TokenFor,
    settings: Settings,
) -> None:
    doctor, _ = await doctor_on_schedule(client, make_doctor, token_for, schedule_body())
    patient = await make_user(Role.patient)
    headers = await token_for(patient)
    asked = await client.post(API, headers=headers)
    assert asked.status_code == 202
    starts = datetime.combine(next_weekday(3), datetime.min.time().replace(hour=11), tzinfo=UTC)
    booked = await client.post(
        "/api/v1/appointments",
        json={"doctor_id": str(doctor.id), "starts_at": starts.isoformat(), "type": "video"},
        headers=headers,
    )
    assert booked.status_code == 201, booked.text
    due = datetime.fromisoformat(asked.json()["due_at"])
    # Due, but the appointment is still ahead then (it is within the grace period only if the
    # grace period is long enough: move the clock to just before the appointment instead).
    now = min(due, starts - timedelta(hours=1))
    async with database.transaction() as db:
        await db.execute(
            update(ErasureRequest).where(ErasureRequest.patient_id == patient.id).values(due_at=now)
        )
    assert await service.erase_due(database, settings, storage_for(settings), now) == []
    async with database.transaction() as db:
        row = await db.scalar(select(ErasureRequest).where(ErasureRequest.patient_id == patient.id))
        assert row is not None
        assert row.erased_at is None
        assert row.postponed == 1
        assert row.due_at == now + service.POSTPONE
        user = await db.get(User, patient.id)
        assert user is not None
        assert user.email == patient.email
    await client.delete(API, headers=headers)
    second = await client.post(API, headers=headers)
    assert (second.status_code, second.json()["code"]) == (409, "care_ahead")


# -- carrying it out: the canary search -----------------------------------------------------------


def _text_columns(catalogue: list[tuple[str, str, str]]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for table, column, kind in catalogue:
        if kind in ("text", "character varying", "jsonb", "json", "ARRAY", "USER-DEFINED"):
            found.setdefault(table, []).append(column)
    return found


async def _plain_hits(database: Database, words: list[str]) -> set[tuple[str, str]]:
    """(table, word) for each private word found in a text-like column of any table."""
    async with database.transaction() as db:
        catalogue = [
            (row[0], row[1], row[2])
            for row in await db.execute(
                text(
                    "SELECT table_name, column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema = current_schema() ORDER BY table_name"
                )
            )
        ]
        hits: set[tuple[str, str]] = set()
        for table, columns in _text_columns(catalogue).items():
            for word in words:
                condition = " OR ".join(f'"{c}"::text ILIKE :word' for c in columns)
                found = await db.scalar(
                    text(f'SELECT EXISTS (SELECT 1 FROM "{table}" WHERE {condition})'),
                    {"word": f"%{word}%"},
                )
                if found:
                    hits.add((table, word))
    return hits


async def _sealed_hits(
    database: Database, keyring: Keyring, words: list[str]
) -> set[tuple[str, str]]:
    """(column, word) for each private word in a sealed value that still opens (with the data
    keys that still exist: none is made by looking)."""
    hits: set[tuple[str, str]] = set()
    async with database.transaction() as db:
        for column in load_sealed_columns(SEALED_COLUMN_MODULES):
            names = ", ".join(dict.fromkeys((*column.key, *column.reads, column.column)))
            rows = list((await db.execute(text(f"SELECT {names} FROM {column.table}"))).mappings())
            values = [row[column.column] for row in rows]
            await patient_keys.unlock(db, keyring, owners_of(values), create=False)
            for row in rows:
                try:
                    opened = keyring.open(column, row)
                except (Unreadable, DataKeyNotLoaded):
                    continue  # another test's key, or a destroyed one
                if opened is None:
                    continue
                for word in words:
                    if word.lower().encode() in opened.lower():
                        hits.add((column.name, word))
    return hits


def _file_hits(root: Path, words: list[str]) -> set[tuple[str, str]]:
    hits: set[tuple[str, str]] = set()
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes().lower()
            hits.update((str(path), w) for w in words if w.lower().encode() in data)
    return hits


@pytest.fixture
async def world(
    client: httpx.AsyncClient,
    database: Database,
    make_doctor: MakeDoctor,
    make_user: MakeUser,
    token_for: TokenFor,
) -> OwnerWorld:
    made = await owner_world(client, database, make_doctor, make_user, token_for)
    await make_all(made)
    owner = made.people["owner_patient"]
    profile = await client.put(
        "/api/v1/patients/me/profile",
        json={
            "date_of_birth": "1961-02-03",
            "address": ADDRESS,
            "emergency_contact": {"name": CONTACT, "phone": "+14155550123"},
            "phone": PHONE,
        },
        headers=owner.headers,
    )
    assert profile.status_code == 200, profile.text
    async with database.transaction() as db:
        await db.execute(update(User).where(User.id == owner.user.id).values(name=NAME))
    return made


async def test_erasure_leaves_no_private_word_outside_the_hold(
    world: OwnerWorld, client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    owner = world.people["owner_patient"]
    patient_id = owner.user.id
    gone = [REASON, COMMENT, ADDRESS, CONTACT, NAME, PHONE, owner.user.email]
    held = [NOTE, CANARY]  # in the record, the prescription, the visit's report (and messages)
    words = gone + held
    keyring = Keyring.from_settings(settings)
    before = await _plain_hits(database, words) | await _sealed_hits(database, keyring, words)
    assert {word for _, word in before} == set(words), "every private word is there to begin with"
    async with database.transaction() as db:
        attachment_keys = (
            await db.scalars(
                select(Attachment.storage_key).where(Attachment.uploader_id == patient_id)
            )
        ).all()
    assert attachment_keys

    # The owner world has care still ahead (an upcoming appointment, a visit in progress), so
    # asking is refused and a due request would wait (both tested above): the request is written
    # as asking writes it and carried out as the job does once nothing is ahead.
    async with database.transaction() as db:
        row = ErasureRequest(
            patient_id=patient_id, requested_by=patient_id, due_at=datetime.now(UTC)
        )
        db.add(row)
        await db.flush()
        done = await service.carry_out(db, settings, row, datetime.now(UTC))
    assert done.rows["messages"] >= 2
    assert done.rows["users"] == 1
    storage = storage_for(settings)
    await service.delete_erased_files(database, storage)

    plain = await _plain_hits(database, words)
    sealed = await _sealed_hits(database, keyring, words)
    outside = {
        (table, word) for table, word in plain if table not in KEPT_BY_LAW | NOT_THE_PATIENTS
    }
    outside |= {(column, word) for column, word in sealed if column.split(".")[0] not in HELD}
    assert outside == set(), f"private words left after the erasure: {sorted(outside)}"
    # What was held is still there (the hold is real, not an accident of the search).
    assert any(word in held for _, word in plain | sealed)
    for key in attachment_keys:
        with pytest.raises(FileMissing):
            await storage.get(key)
    data_dir = Path(settings.data_dir) / "files"
    if data_dir.exists():
        assert {w for _, w in _file_hits(data_dir, gone)} == set()

    # Every way in is gone: the session's token no longer works, the address cannot sign in.
    assert (await client.get("/api/v1/me", headers=owner.headers)).status_code == 401
    async with database.transaction() as db:
        user = await db.get(User, patient_id)
        assert user is not None
        assert user.email.endswith("@erased.invalid")
        assert user.phone is None
        assert (
            await db.scalar(select(ErasureFile.id).limit(1).where(ErasureFile.erasure_id == row.id))
            is None
        )
        completed = await db.scalar(
            select(AuditEvent).where(
                AuditEvent.subject_id == patient_id, AuditEvent.action == "erasure.completed"
            )
        )
        assert completed is not None
        assert completed.details["rows"] == sum(done.rows.values())

    # When the hold ends, the retention job's purge deletes what was held, the account with it.
    later = datetime.now(UTC) + timedelta(days=round(365.25 * settings.medical_retention_years) + 1)
    async with database.transaction() as db:
        assert await service.purge_held(db, later, dry_run=True) >= 1
        purged = await service.purge_held(db, later)
    assert purged >= 1
    async with database.transaction() as db:
        assert await db.get(User, patient_id) is None
        left = await db.scalar(select(Prescription.id).where(Prescription.patient_id == patient_id))
        assert left is None, "the issued prescription is purged with the rest"
    plain = await _plain_hits(database, held)
    assert {(t, w) for t, w in plain if t not in {"audit_events", *NOT_THE_PATIENTS}} == set()


# -- the rules cover the schema -------------------------------------------------------------------


def test_every_table_referencing_a_user_has_a_rule() -> None:
    """A table with a foreign key to ``users`` that no domain's ``erasure.py`` speaks for fails:
    a new table cannot be forgotten by the erasure."""
    metadata = load_models()
    ruled = {rule.table for rule in RULES}
    referencing = {
        table.name
        for table in metadata.sorted_tables
        for key in table.foreign_keys
        if key.column.table.name == "users"
    }
    missing = sorted(referencing - ruled)
    assert not missing, (
        f"no erasure rule for {missing}: declare what erasing a patient does to them in the "
        "owning domain's erasure.py (ERASURE_RULES; keep/keep with why for a table that never "
        "holds a patient's data)"
    )
    unknown = sorted(ruled - set(metadata.tables))
    assert not unknown, f"erasure rules name tables that do not exist: {unknown}"


def test_a_held_table_can_be_purged_and_a_cleared_one_is_held() -> None:
    for rule in RULES:
        if rule.at_erasure == "clear":
            assert rule.at_purge == "delete", f"{rule.table}: what is cleared stays until purged"
        assert rule.why, f"{rule.table}: say why"


async def test_a_due_erasure_is_carried_out_once(
    database: Database,
    make_user: MakeUser,
    settings: Settings,
    token_for: TokenFor,
    client: httpx.AsyncClient,
) -> None:
    patient = await make_user(Role.patient)
    assert (await client.post(API, headers=await token_for(patient))).status_code == 202
    later = datetime.now(UTC) + timedelta(days=settings.erasure_grace_days, minutes=1)
    storage = storage_for(settings)
    first = await service.erase_due(database, settings, storage, later)
    second = await service.erase_due(database, settings, storage, later)
    assert [e.patient_id for e in first] == [patient.id]
    assert second == []
    async with database.transaction() as db:
        count = await db.scalar(
            select(text("count(*)"))
            .select_from(AuditEvent)
            .where(AuditEvent.subject_id == patient.id, AuditEvent.action == "erasure.completed")
        )
    assert count == 1
    assert uuid.UUID(str(first[0].request_id))
