"""Per-patient data keys (crypto-shredding): destroying a patient's ``personal`` key makes their
personal data unreadable (the API answers ``unreadable``, audited with the reason) while their
medical data and other patients' data still open; two calls that make a patient's first key at
once agree on one key; a key made by a transaction that rolled back is never used again."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from carebridge.accounts.models import Role, User, UserStatus
from carebridge.compliance.models import AuditEvent
from carebridge.config import Settings
from carebridge.platform.context import CallScope
from carebridge.platform.crypto import (
    DESTROYED,
    KeyClass,
    Keyring,
    forget_data_keys,
    patient_key_of,
)
from carebridge.platform.db import Database
from carebridge.platform.patient_keys import PatientKey, destroy_patient_keys, unlock
from carebridge.platform.storage import UnreadableFile, sealed_storage_for, storage_for
from carebridge.scheduling.sealed import REASON
from tests.factories import Headers, MakeUser, TokenFor
from tests.factories.scheduling import next_weekday
from tests.factories.settings import TEST_SECRET


async def _book(
    client: httpx.AsyncClient, headers: Headers, doctor_id: uuid.UUID, hour: int
) -> str:
    booked = await client.post(
        "/api/v1/appointments",
        json={
            "doctor_id": str(doctor_id),
            "starts_at": f"{next_weekday(2).isoformat()}T{hour:02d}:00:00+00:00",
            "type": "video",
            "reason": "Chest pain since Tuesday",
        },
        headers=headers,
    )
    assert booked.status_code == 201, booked.text
    return f"/api/v1/appointments/{booked.json()['id']}"


async def _medication(client: httpx.AsyncClient, headers: Headers) -> str:
    body = {"name": "Warfarin 5 mg", "times": ["18:00"], "instructions": "Check INR weekly"}
    added = await client.post("/api/v1/records/medications", json=body, headers=headers)
    assert added.status_code == 201, added.text
    return f"/api/v1/records/medications/{added.json()['id']}"


async def test_destroying_a_personal_key_makes_only_that_data_unreadable(
    client: httpx.AsyncClient,
    database: Database,
    make_user: MakeUser,
    token_for: TokenFor,
    scheduled_doctor: Callable[..., Awaitable[Any]],
) -> None:
    doctor, _ = await scheduled_doctor()
    alice, bob = await make_user(Role.patient), await make_user(Role.patient)
    alice_headers, bob_headers = await token_for(alice), await token_for(bob)
    alice_visit = await _book(client, alice_headers, doctor.id, 10)
    bob_visit = await _book(client, bob_headers, doctor.id, 11)
    alice_medication = await _medication(client, alice_headers)

    async with database.transaction() as db:
        assert await destroy_patient_keys(db, alice.id, [KeyClass.personal]) == 1

    answer = await client.get(alice_visit, headers=alice_headers)
    assert answer.status_code == 500, answer.text
    assert answer.json()["code"] == "unreadable"
    assert "Chest pain" not in answer.text
    async with database.sessionmaker() as db:
        audited = (
            await db.scalars(
                select(AuditEvent).where(
                    AuditEvent.action == "sealed.unreadable",
                    AuditEvent.resource_id == alice_visit.rsplit("/", 1)[1],
                )
            )
        ).one()
    assert audited.details == {"column": REASON.name, "reason": DESTROYED}

    # Her medical data (another key) and another patient's data still open.
    medication = await client.get(alice_medication, headers=alice_headers)
    assert medication.status_code == 200, medication.text
    assert medication.json()["instructions"] == "Check INR weekly"
    other = await client.get(bob_visit, headers=bob_headers)
    assert other.status_code == 200, other.text
    assert other.json()["reason"] == "Chest pain since Tuesday"

    # What she writes from now on is under a new personal key, and reads back.
    later = await _book(client, alice_headers, doctor.id, 12)
    again = await client.get(later, headers=alice_headers)
    assert again.status_code == 200, again.text
    assert again.json()["reason"] == "Chest pain since Tuesday"


def _patient() -> User:
    return User(
        id=uuid.uuid4(),
        email=f"patient-{uuid.uuid4().hex[:8]}@clinic.example",
        name="Test patient",
        role=Role.patient,
        status=UserStatus.active,
        password_hash="not-a-real-hash",
    )


async def _new_patient(database: Database) -> uuid.UUID:
    async with database.transaction() as db:
        patient = _patient()
        db.add(patient)
    return patient.id


async def test_two_first_uses_at_once_agree_on_one_key(fresh: Database) -> None:
    """The first call's insert holds its row until it commits; the second call's insert waits,
    does nothing, and reads the first call's key: both seal under the same key."""
    patient_id = await _new_patient(fresh)
    forget_data_keys((patient_id, key_class) for key_class in KeyClass)
    first, second = Keyring(TEST_SECRET).scoped(), Keyring(TEST_SECRET).scoped()
    first_made = asyncio.Event()
    row = {"id": uuid.uuid4(), "patient_id": patient_id}

    async def make_first() -> bytes:
        async with fresh.transaction() as db:
            await unlock(db, first, [patient_id])
            first_made.set()
            await asyncio.sleep(0.3)  # the second call is waiting on our rows meanwhile
            return first.seal(REASON, row, "first")

    async def make_second() -> bytes:
        await first_made.wait()
        async with fresh.transaction() as db:
            await unlock(db, second, [patient_id])
            return second.seal(REASON, row, "second")

    sealed_first, sealed_second = await asyncio.gather(make_first(), make_second())
    for key_class in KeyClass:
        made, read = first.data_key(patient_id, key_class), second.data_key(patient_id, key_class)
        assert made is not None
        assert read is not None
        assert made.key_id == read.key_id
    assert second.open_text(REASON, {**row, "reason_sealed": sealed_first}) == "first"
    assert first.open_text(REASON, {**row, "reason_sealed": sealed_second}) == "second"
    async with fresh.transaction() as db:
        count = await db.scalar(
            select(func.count()).select_from(PatientKey).where(PatientKey.patient_id == patient_id)
        )
    assert count == 2


async def test_a_key_made_by_a_rolled_back_transaction_is_never_used(
    fresh: Database, settings: Settings
) -> None:
    """Until its transaction commits, a new key is the making call's alone: another call makes
    or reads its own, and once the first rolls back its key is forgotten."""
    patient_id = await _new_patient(fresh)
    keyring = Keyring(TEST_SECRET)
    maker = CallScope.system(settings, keyring)
    async with fresh.sessionmaker() as db:
        await maker.unlock(db, patient_id)
        made = maker.keyring.data_key(patient_id, KeyClass.personal)
        assert made is not None
        other = keyring.scoped()
        assert other.data_key(patient_id, KeyClass.personal) is None  # not shared yet
        # Another scope of the same transaction reads the uncommitted row: pending for it too.
        await unlock(db, other, [patient_id])
        seen = other.data_key(patient_id, KeyClass.personal)
        assert seen is not None
        assert seen.key_id == made.key_id
        assert keyring.scoped().data_key(patient_id, KeyClass.personal) is None
        await db.rollback()
    assert maker.keyring.data_key(patient_id, KeyClass.personal) is None
    assert other.data_key(patient_id, KeyClass.personal) is None
    later = keyring.scoped()
    async with fresh.transaction() as db:
        await unlock(db, later, [patient_id])
    kept = later.data_key(patient_id, KeyClass.personal)
    assert kept is not None
    assert kept.key_id != made.key_id
    # Committed: now every view of the process uses it, without a round trip.
    assert keyring.scoped().data_key(patient_id, KeyClass.personal) == kept


async def test_a_patients_file_is_under_their_key_and_shredded_with_it(
    database: Database, make_user: MakeUser, settings: Settings
) -> None:
    """Stored files of a patient (attachments, documents, visit photos) are sealed under the
    patient's data key of their class: destroying it makes every copy unreadable."""
    patient = await make_user(Role.patient)
    scope = CallScope.system(settings)
    storage = sealed_storage_for(settings, scope.keyring)
    key = f"tests/{uuid.uuid4()}"
    async with database.transaction() as db:
        await storage.put(
            key,
            b"scan of the letter",
            associated_data=b"a",
            owner=(patient.id, KeyClass.medical),
            db=db,
        )
    stored = await storage_for(settings).get(key)
    assert stored.startswith(b"cb2")
    assert patient_key_of(stored)[:2] == (patient.id, KeyClass.medical)
    reader = CallScope.system(settings)
    forget_data_keys((patient.id, key_class) for key_class in KeyClass)
    async with database.transaction() as db:
        opened = await sealed_storage_for(settings, reader.keyring).get(
            key, associated_data=b"a", db=db
        )
    assert opened == b"scan of the letter"

    async with database.transaction() as db:
        await destroy_patient_keys(db, patient.id, [KeyClass.medical])
    async with database.transaction() as db:
        with pytest.raises(UnreadableFile) as failed:
            await sealed_storage_for(settings, CallScope.system(settings).keyring).get(
                key, associated_data=b"a", db=db
            )
    assert failed.value.reason == DESTROYED
