"""The booking's Idempotency-Key and its request hash: keyed with the keyring (the reason for the
visit is part of the request, and a plain hash in a copy of the database would confirm a guessed
reason), still recognised after the encryption key rotates, and the unkeyed hashes of earlier
bookings forgotten by the migration."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql
from pydantic import SecretStr
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from carebridge.accounts.models import Role, User
from carebridge.app import create_app
from carebridge.config import Settings
from carebridge.platform.crypto import Keyring
from carebridge.platform.db import Database
from carebridge.platform.migrate import upgrade
from carebridge.scheduling.models import Appointment
from tests.factories import Headers, MakeUser, TokenFor, serving
from tests.factories.directory import MakeDoctor
from tests.factories.scheduling import next_weekday, schedule_body
from tests.factories.settings import TEST_SECRET

REASON = "Chest pain since Tuesday"
NEW_KEY = "rotated-encryption-key-0123456789abcdefghijklmn"


def _body(doctor_id: uuid.UUID, starts_at: str, reason: str = REASON) -> dict[str, Any]:
    return {"doctor_id": str(doctor_id), "starts_at": starts_at, "type": "video", "reason": reason}


async def _book(
    client: httpx.AsyncClient, headers: Headers, body: dict[str, Any], key: str
) -> httpx.Response:
    return await client.post(
        "/api/v1/appointments", json=body, headers={**headers, "Idempotency-Key": key}
    )


async def _stored_hash(database: Database, appointment_id: str) -> bytes:
    async with database.sessionmaker() as db:
        value = await db.scalar(
            select(Appointment.request_hash).where(Appointment.id == uuid.UUID(appointment_id))
        )
    assert isinstance(value, bytes)
    return value


@pytest.fixture
async def booking(
    scheduled_doctor: Callable[..., Awaitable[tuple[User, Headers]]],
    make_user: MakeUser,
    token_for: TokenFor,
) -> tuple[User, Headers, str]:
    doctor, _ = await scheduled_doctor()
    patient = await token_for(await make_user(Role.patient))
    starts_at = f"{next_weekday(4).isoformat()}T09:30:00+01:00"
    return doctor, patient, starts_at


async def test_the_stored_hash_is_keyed_and_the_key_still_answers_the_first_result(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    booking: tuple[User, Headers, str],
) -> None:
    doctor, patient, starts_at = booking
    first = await _book(client, patient, _body(doctor.id, starts_at), "k-keyed")
    assert first.status_code == 201, first.text
    stored = await _stored_hash(database, first.json()["id"])

    # Whoever holds a copy of the database and guesses the reason cannot confirm it.
    start = datetime.fromisoformat(starts_at).astimezone(UTC).isoformat()
    for request in (
        f"{doctor.id}|{start}|video|{REASON}",  # the unkeyed hash stored before
        json.dumps([str(doctor.id), start, "video", REASON]),
    ):
        assert stored != hashlib.sha256(request.encode()).digest()
        assert hashlib.sha256(request.encode()).digest() not in stored
    assert len(stored) == 8 + 32
    assert stored[:8] == Keyring.from_settings(settings).current_key_id

    again = await _book(client, patient, _body(doctor.id, starts_at), "k-keyed")
    assert again.status_code == 200, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    other_reason = await _book(client, patient, _body(doctor.id, starts_at, "Back pain"), "k-keyed")
    assert other_reason.status_code == 422, other_reason.text
    assert other_reason.json()["code"] == "idempotency_key_reused"


async def test_a_retry_after_the_encryption_key_rotated_is_the_same_request(
    database: Database,
    settings: Settings,
    make_doctor: MakeDoctor,
    make_user: MakeUser,
    token_for: TokenFor,
) -> None:
    """Two apps in turn on one database: before the rotation, and after it (the new key
    current, the old one previous)."""
    doctor = await make_doctor(f"Dr {uuid.uuid4().hex[:6]}")
    patient = await token_for(await make_user(Role.patient))
    starts_at = f"{next_weekday(4).isoformat()}T09:30:00+01:00"
    async with serving(create_app(settings, database=database)) as before:
        schedule = await before.put(
            "/api/v1/doctors/me/schedule", json=schedule_body(), headers=await token_for(doctor)
        )
        assert schedule.status_code == 200, schedule.text
        first = await _book(before, patient, _body(doctor.id, starts_at), "k-rotation")
        assert first.status_code == 201, first.text

    rotated = settings.model_copy(
        update={
            "encryption_key": SecretStr(NEW_KEY),
            "encryption_previous_keys": [SecretStr(TEST_SECRET)],
        }
    )
    async with serving(create_app(rotated, database=database)) as after:
        again = await _book(after, patient, _body(doctor.id, starts_at), "k-rotation")
        assert again.status_code == 200, again.text
        assert again.json()["id"] == first.json()["id"]
        assert again.json()["reason"] == REASON  # sealed under the previous key, still opens
        changed = await _book(after, patient, _body(doctor.id, starts_at, "Other"), "k-rotation")
        assert changed.json()["code"] == "idempotency_key_reused"
    stored = await _stored_hash(database, first.json()["id"])
    assert stored[:8] == Keyring.from_settings(settings).current_key_id  # made before


async def test_the_migration_forgets_the_unkeyed_hashes(postgres_server_url: str) -> None:
    name = f"carebridge_hash_{uuid.uuid4().hex[:8]}"
    server = make_url(postgres_server_url).set(drivername="postgresql")
    admin = server.render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    engine = create_async_engine(server.set(drivername="postgresql+asyncpg", database=name))
    try:
        await upgrade(engine, "0012_prescriptions")
        database = Database(engine)
        doctor, patient = uuid.uuid4(), uuid.uuid4()
        # Written as the schema of 0012 is, not through today's models.
        async with database.transaction() as db:
            for user_id, role in ((doctor, "doctor"), (patient, "patient")):
                await db.execute(
                    text(
                        "INSERT INTO users (id, email, name, role, status, password_hash) "
                        "VALUES (:id, :email, 'X', :role, 'active', 'x')"
                    ),
                    {"id": user_id, "email": f"{role}@h.example", "role": role},
                )
            for n, request_hash in enumerate((hashlib.sha256(b"old").digest(), b"k" * 40)):
                await db.execute(
                    text(
                        "INSERT INTO appointments (id, doctor_id, patient_id, type, status, "
                        "starts_at, ends_at, blocked_until, time_zone, idempotency_key, "
                        "request_hash) VALUES (:id, :doctor, :patient, 'video', 'scheduled', "
                        ":at, :end, :end, 'UTC', :key, :hash)"
                    ),
                    {
                        "id": uuid.uuid4(),
                        "doctor": doctor,
                        "patient": patient,
                        "at": datetime(2030, 1, 7, 9 + n, tzinfo=UTC),
                        "end": datetime(2030, 1, 7, 9 + n, 30, tzinfo=UTC),
                        "key": f"key-{n}",
                        "hash": request_hash,
                    },
                )
        await upgrade(engine)
        async with database.sessionmaker() as db:
            kept = (
                await db.execute(
                    select(Appointment.idempotency_key, Appointment.request_hash).order_by(
                        Appointment.starts_at
                    )
                )
            ).all()
        assert [tuple(row) for row in kept] == [("key-0", None), ("key-1", b"k" * 40)]
    finally:
        await engine.dispose()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
