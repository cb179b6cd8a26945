"""Re-encryption after a key rotation: every registered column moves to the new key, issued
prescriptions included, and stays readable; a second run re-seals nothing; a damaged value is
reported by row and fails the command without touching anything else. The patients' data keys
are re-sealed under the new key, and patient data still sealed by the keyring itself (``cb1``)
moves under its patient's data key of its class (``cb2``).

Each test gets its own database (``fresh``, copied from one migrated template): the walk commits
batch by batch, and it must see exactly the rows the test wrote."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from carebridge.accounts import mfa
from carebridge.accounts.models import Role, User, UserStatus
from carebridge.accounts.tokens import create_signing_key
from carebridge.cli import cli
from carebridge.directory.models import PatientProfile
from carebridge.messaging.models import Conversation, Message
from carebridge.platform.crypto import (
    KeyClass,
    Keyring,
    SealedColumn,
    forget_data_keys,
    owners_of,
    patient_key_of,
)
from carebridge.platform.db import Database
from carebridge.platform.patient_keys import KEY_SEALED, PatientKey, unlock
from carebridge.platform.reencrypt import (
    Failure,
    load_sealed_columns,
    owner_of_rows,
    reencrypt_column,
)
from carebridge.platform.registry import load_models
from carebridge.prescriptions.models import Prescription
from carebridge.records.models import (
    Allergy,
    Condition,
    EmergencyAccess,
    Immunization,
    Medication,
    Observation,
    Symptom,
)
from carebridge.scheduling.models import Appointment
from carebridge.visits.models import Visit, VisitPhoto, VisitReport, VisitTransition
from tests.factories.settings import TEST_SECRET

KEY_A = "rotation-test-key-A-0123456789abcdefghijklmn"
KEY_B = "rotation-test-key-B-0123456789abcdefghijklmn"
# What each sealed value should open to, by column name and row id.
Expected = dict[tuple[str, str], bytes]
# Seals a plaintext for (column name, row id, associated data) and records what it should open to.
Seal = Callable[[str, uuid.UUID, str, str], bytes]


def _user(role: Role) -> User:
    return User(
        id=uuid.uuid4(),
        email=f"{role}-{uuid.uuid4().hex[:8]}@clinic.example",
        name=f"Test {role}",
        role=role,
        status=UserStatus.active,
        password_hash="not-a-real-hash",
    )


async def seal_everything(database: Database, keyring: Keyring) -> Expected:
    """One value or more in every registered column, sealed as the domains seal them (their own
    functions where they have public ones, the same associated data otherwise)."""
    expected: Expected = {}

    def seal(column: str, row_id: uuid.UUID, aad: str, plaintext: str) -> bytes:
        expected[(column, str(row_id))] = plaintext.encode()
        return keyring.encrypt(plaintext.encode(), aad.encode())

    async with database.transaction() as db:
        doctor, patient = _user(Role.doctor), _user(Role.patient)
        doctor.totp_secret = mfa.seal_secret(keyring, doctor.id, "JBSWY3DPEHPK3PXP")
        expected[("users.totp_secret", str(doctor.id))] = b"JBSWY3DPEHPK3PXP"
        db.add_all([doctor, patient])
        await db.flush()
        # The patient's data keys exist already (sealed under key A), their data does not use
        # them yet: it was sealed before data keys (``cb1``).
        await unlock(db, keyring, [patient.id])
        for key_row in (await db.execute(select(PatientKey.__table__))).mappings():
            row_id = f"{key_row['patient_id']}/{key_row['key_class']}"
            opened = keyring.open(KEY_SEALED, key_row)
            assert opened is not None
            expected[("patient_keys.key_sealed", row_id)] = opened
        signing_key = await create_signing_key(db, keyring)
        der = keyring.decrypt(signing_key.private_key, signing_key.kid.encode())
        expected[("signing_keys.private_key", str(signing_key.id))] = der

        profile = f"patient_profile:{patient.id}"
        db.add(
            PatientProfile(
                user_id=patient.id,
                date_of_birth_sealed=seal(
                    "patient_profiles.date_of_birth_sealed",
                    patient.id,
                    f"{profile}:date_of_birth",
                    "1984-03-09",
                ),
                address_sealed=seal(
                    "patient_profiles.address_sealed",
                    patient.id,
                    f"{profile}:address",
                    "12 Harbour Lane, Porto",
                ),
                emergency_contact_sealed=seal(
                    "patient_profiles.emergency_contact_sealed",
                    patient.id,
                    f"{profile}:emergency_contact",
                    "Rita Alves, +351 912 345 678",
                ),
            )
        )
        start = datetime(2026, 3, 2, 9, tzinfo=UTC)
        for index in range(3):
            appointment_id = uuid.uuid4()
            starts_at = start + timedelta(days=index)
            db.add(
                Appointment(
                    id=appointment_id,
                    doctor_id=doctor.id,
                    patient_id=patient.id,
                    type="video",
                    status="completed",
                    starts_at=starts_at,
                    ends_at=starts_at + timedelta(minutes=30),
                    blocked_until=starts_at + timedelta(minutes=30),
                    time_zone="UTC",
                    reason_sealed=seal(
                        "appointments.reason_sealed",
                        appointment_id,
                        f"appointment:{appointment_id}:reason",
                        f"persistent cough, week {index + 1}",
                    ),
                )
            )
            await db.flush()
            db.add(_prescription(seal, appointment_id, doctor, patient, issued=index != 1))
        conversation = Conversation(kind="care", patient_id=patient.id, doctor_id=doctor.id)
        db.add(conversation)
        await db.flush()
        for seq in (1, 2):
            message_id = uuid.uuid4()
            db.add(
                Message(
                    id=message_id,
                    conversation_id=conversation.id,
                    seq=seq,
                    sender_id=patient.id,
                    client_id=uuid.uuid4(),
                    body_sealed=seal(
                        "messages.body_sealed",
                        message_id,
                        f"message:{message_id}:{conversation.id}",
                        f"still coughing, day {seq}",
                    ),
                )
            )
        _seal_record(db, seal, patient, doctor, start)
        _seal_visit(db, seal, patient, start)
    return expected


def _seal_visit(db: AsyncSession, seal: Seal, patient: User, at: datetime) -> None:
    """A home visit with every sealed column of its tables filled."""

    def sealed(table: str, row_id: uuid.UUID, field: str) -> bytes:
        return seal(
            f"{table}.{field}_sealed", row_id, f"{table}:{row_id}:{field}", f"{field} words"
        )

    visit_id, transition_id, photo_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    db.add(
        Visit(
            id=visit_id,
            patient_id=patient.id,
            service="wound_care",
            window_start=at,
            window_end=at + timedelta(hours=2),
            address_sealed=sealed("home_visits", visit_id, "address"),
            access_notes_sealed=sealed("home_visits", visit_id, "access_notes"),
            reason_sealed=sealed("home_visits", visit_id, "reason"),
        )
    )
    db.add(
        VisitTransition(
            id=transition_id,
            visit_id=visit_id,
            seq=1,
            to_state="requested",
            actor_role="patient",
            reason_sealed=sealed("visit_transitions", transition_id, "reason"),
        )
    )
    db.add(
        VisitReport(
            visit_id=visit_id,
            body_sealed=sealed("visit_reports", visit_id, "body"),
            changes_sealed=sealed("visit_reports", visit_id, "changes"),
            feedback_sealed=sealed("visit_reports", visit_id, "feedback"),
        )
    )
    db.add(
        VisitPhoto(
            id=photo_id,
            visit_id=visit_id,
            filename="wound.jpg",
            content_type="image/jpeg",
            size=1,
            storage_key=f"visit-photos/{photo_id}",
            caption_sealed=sealed("visit_photos", photo_id, "caption"),
        )
    )


def _seal_record(db: AsyncSession, seal: Seal, patient: User, doctor: User, at: datetime) -> None:
    """One row of each table of the health record with a sealed column."""
    rows: list[tuple[type[Any], str, str, dict[str, Any]]] = [
        (
            Observation,
            "record_observations",
            "note",
            {
                "kind": "heart_rate",
                "value": 70,
                "unit": "/min",
                "entered_unit": "/min",
                "flag": "normal",
                "measured_at": at,
                "time_zone": "UTC",
                "source": "patient",
            },
        ),
        (
            Medication,
            "record_medications",
            "instructions",
            {"name": "Metformin", "starts_on": at.date()},
        ),
        (Symptom, "record_symptoms", "note", {"name": "Headache", "severity": 4, "onset_at": at}),
        (Allergy, "record_allergies", "note", {"substance": "Penicillin", "severity": "moderate"}),
        (Condition, "record_conditions", "note", {"name": "Asthma", "status": "active"}),
        (
            Immunization,
            "record_immunizations",
            "note",
            {"vaccine": "Tetanus", "given_on": at.date()},
        ),
        (
            EmergencyAccess,
            "record_emergency_accesses",
            "reason",
            {"doctor_id": doctor.id, "expires_at": at},
        ),
    ]
    for model, table, field, values in rows:
        row_id = uuid.uuid4()
        sealed = seal(
            f"{table}.{field}_sealed", row_id, f"{table}:{row_id}:{field}", f"{table} words"
        )
        db.add(model(id=row_id, patient_id=patient.id, **values, **{f"{field}_sealed": sealed}))


def _prescription(
    seal: Seal, appointment_id: uuid.UUID, doctor: User, patient: User, *, issued: bool
) -> Prescription:
    prescription_id = uuid.uuid4()
    aad = f"prescription:{prescription_id}"
    return Prescription(
        id=prescription_id,
        appointment_id=appointment_id,
        doctor_id=doctor.id,
        patient_id=patient.id,
        status="issued" if issued else "draft",
        issued_at=datetime.now(UTC) if issued else None,
        verification_code=uuid.uuid4().hex[:12].upper() if issued else None,
        diagnosis_sealed=seal(
            "prescriptions.diagnosis_sealed",
            prescription_id,
            f"{aad}:diagnosis",
            "acute bronchitis",
        ),
        notes_sealed=seal(
            "prescriptions.notes_sealed", prescription_id, f"{aad}:notes", "take with food"
        ),
    )


async def read_all(database: Database, keyring: Keyring) -> Expected:
    """Every value of every registered column, opened with ``keyring`` (raises if one fails):
    the data keys are read from their rows with it, not taken from this process's cache."""
    metadata = load_models()
    opened: Expected = {}
    async with database.transaction() as db:
        for sealed in load_sealed_columns():
            table = metadata.tables[sealed.table]
            names = dict.fromkeys((*sealed.key, *sealed.reads, sealed.column))
            query = select(*(table.c[n] for n in names)).where(table.c[sealed.column].is_not(None))
            rows = list((await db.execute(query)).mappings())
            owners = owners_of(row[sealed.column] for row in rows)
            forget_data_keys((owner, key_class) for owner in owners for key_class in KeyClass)
            await unlock(db, keyring, owners, create=False)
            for row in rows:
                row_id = "/".join(str(row[n]) for n in sealed.key)
                value = keyring.open(sealed, row)
                assert value is not None
                opened[(sealed.name, row_id)] = value
    return opened


async def assert_under_patient_keys(database: Database) -> int:
    """Every value of patient data is ``cb2`` under the data key of its own patient and of its
    column's class; returns how many there are."""
    metadata = load_models()
    count = 0
    async with database.transaction() as db:
        for sealed in load_sealed_columns():
            if sealed.key_class is None:
                continue
            table = metadata.tables[sealed.table]
            query = select(table.c[sealed.column], owner_of_rows(sealed)).where(
                table.c[sealed.column].is_not(None)
            )
            for value, patient_id in await db.execute(query):
                assert value.startswith(b"cb2"), sealed.name
                assert patient_key_of(value)[:2] == (patient_id, sealed.key_class), sealed.name
                count += 1
    return count


async def test_every_registered_column_moves_to_the_new_key(fresh: Database) -> None:
    expected = await seal_everything(fresh, Keyring(KEY_A))
    columns = load_sealed_columns()
    assert {name for name, _ in expected} == {column.name for column in columns}
    rotated = Keyring(KEY_B, (KEY_A,))

    dry = [await reencrypt_column(fresh, rotated, c, dry_run=True) for c in columns]
    assert sum(report.resealed for report in dry) == len(expected)
    assert await read_all(fresh, Keyring(KEY_A)) == expected  # a dry run writes nothing

    progress: list[int] = []
    reports = [
        await reencrypt_column(fresh, rotated, c, batch_size=2, advance=progress.append)
        for c in columns
    ]
    assert sum(report.seen for report in reports) == len(expected) == sum(progress)
    assert sum(report.resealed for report in reports) == len(expected)
    assert all(report.failed == [] for report in reports)
    assert await read_all(fresh, Keyring(KEY_B)) == expected  # only the new key is needed
    patient_keys = {k for k in expected if k[0] == "patient_keys.key_sealed"}
    assert len(patient_keys) == 2  # personal and medical, re-sealed under the new key
    # Every other value of patient data moved under its patient's data key.
    accounts = {k for k in expected if k[0] in ("users.totp_secret", "signing_keys.private_key")}
    assert await assert_under_patient_keys(fresh) == len(expected) - 2 - len(accounts)

    again = [await reencrypt_column(fresh, rotated, c, batch_size=2) for c in columns]
    assert sum(report.resealed for report in again) == 0
    assert sum(report.current for report in again) == len(expected)


async def test_a_damaged_value_is_reported_and_left_alone(fresh: Database) -> None:
    expected = await seal_everything(fresh, Keyring(KEY_A))
    column = next(c for c in load_sealed_columns() if c.name == "appointments.reason_sealed")
    damaged_id = await _damage_one_reason(fresh)

    report = await reencrypt_column(fresh, Keyring(KEY_B, (KEY_A,)), column, batch_size=1)
    assert report.failed == [Failure(str(damaged_id), "ciphertext damaged or bound to other data")]
    assert (report.seen, report.resealed) == (3, 2)
    async with fresh.transaction() as db:
        rows = dict((await db.execute(select(Appointment.id, Appointment.reason_sealed))).all())
    still_damaged = rows.pop(damaged_id)
    assert still_damaged is not None
    assert not Keyring(KEY_B).is_current(still_damaged)
    keyring = Keyring(KEY_B)
    async with fresh.transaction() as db:
        await unlock(db, keyring, owners_of(rows.values()), create=False)
    for appointment_id, sealed in rows.items():
        key = ("appointments.reason_sealed", str(appointment_id))
        assert sealed is not None
        assert sealed.startswith(b"cb2")
        row = {"id": appointment_id, "reason_sealed": sealed}
        assert keyring.open(column, row) == expected[key]


async def _damage_one_reason(database: Database) -> uuid.UUID:
    async with database.transaction() as db:
        appointment = (await db.scalars(select(Appointment).limit(1))).one()
        assert appointment.reason_sealed is not None
        damaged = bytearray(appointment.reason_sealed)
        damaged[-1] ^= 0x01
        await db.execute(
            update(Appointment)
            .where(Appointment.id == appointment.id)
            .values(reason_sealed=bytes(damaged))
        )
    return appointment.id


def test_registered_columns_exist_and_hold_bytes() -> None:
    metadata = load_models()
    columns: list[SealedColumn] = load_sealed_columns()
    assert len({column.name for column in columns}) == len(columns) == 25
    for sealed in columns:
        table = metadata.tables[sealed.table]
        assert [c.name for c in table.primary_key.columns] == list(sealed.key), sealed.name
        assert table.c[sealed.column].type.python_type is bytes, sealed.name
        for name in sealed.reads:
            assert name in table.c, sealed.name


def _run_cli(
    tmp_path: Path, database_url: str, fresh_owner_url: str, *args: str
) -> tuple[int, str, str]:
    """``carebridge reencrypt`` in this process, with current key B and previous key A."""
    env: dict[str, str | None] = {n: None for n in os.environ if n.startswith("CAREBRIDGE_")}
    env.update(
        CAREBRIDGE_ENVIRONMENT="test",
        CAREBRIDGE_DATA_DIR=str(tmp_path),
        CAREBRIDGE_DATABASE_URL=database_url,
        CAREBRIDGE_MIGRATION_DATABASE_URL=fresh_owner_url,
        CAREBRIDGE_SECRET_KEY=TEST_SECRET,
        CAREBRIDGE_ENCRYPTION_KEY=KEY_B,
        CAREBRIDGE_ENCRYPTION_PREVIOUS_KEYS=KEY_A,
    )
    result = CliRunner().invoke(cli, ["reencrypt", *args], env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


async def test_the_command_rotates_reports_and_fails_on_a_damaged_value(
    fresh: Database, fresh_url: str, fresh_owner_url: str, tmp_path: Path
) -> None:
    expected = await seal_everything(fresh, Keyring(KEY_A))
    total = len(expected)

    # The command runs its own event loop: give it a thread of its own.
    code, out, err = await asyncio.to_thread(
        _run_cli, tmp_path, fresh_url, fresh_owner_url, "--dry-run"
    )
    assert code == 0, err
    assert f"total: {total} seen, {total} would re-seal, 0 already current, 0 failed" in out
    assert await read_all(fresh, Keyring(KEY_A)) == expected

    code, out, err = await asyncio.to_thread(
        _run_cli, tmp_path, fresh_url, fresh_owner_url, "--batch-size", "2"
    )
    assert code == 0, err
    assert "prescriptions.diagnosis_sealed: 3 seen, 3 re-sealed" in out
    assert f"total: {total} seen, {total} re-sealed, 0 already current, 0 failed" in out
    assert await read_all(fresh, Keyring(KEY_B)) == expected

    code, out, err = await asyncio.to_thread(_run_cli, tmp_path, fresh_url, fresh_owner_url)
    assert code == 0, err
    assert f"total: {total} seen, 0 re-sealed, {total} already current, 0 failed" in out

    damaged_id = await _damage_one_reason(fresh)
    code, out, err = await asyncio.to_thread(_run_cli, tmp_path, fresh_url, fresh_owner_url)
    assert code == 1
    assert f"total: {total} seen, 0 re-sealed, {total - 1} already current, 1 failed" in out
    assert f"cannot decrypt appointments.reason_sealed row {damaged_id}: ciphertext damaged" in err
    assert "cough" not in out + err
