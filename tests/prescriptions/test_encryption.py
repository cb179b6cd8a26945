"""The diagnosis and notes at rest: never in clear in the database, a damaged or moved ciphertext
is refused cleanly, and the database itself keeps an issued prescription unchanged."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from carebridge.config import Settings
from carebridge.platform.context import CallScope
from carebridge.platform.crypto import Unreadable
from carebridge.platform.db import Database
from carebridge.prescriptions.sealed import DIAGNOSIS, NOTES
from tests.factories.prescriptions import CANARY, MakeConsultation

Json = dict[str, Any]
Make = Callable[..., Awaitable[Json]]


async def _sealed(database: Database, prescription_id: str) -> bytes:
    async with database.transaction() as db:
        value = await db.scalar(
            text("SELECT diagnosis_sealed FROM prescriptions WHERE id = :id"),
            {"id": prescription_id},
        )
    assert isinstance(value, bytes)
    return value


async def _store(database: Database, prescription_id: str, sealed: bytes) -> None:
    async with database.transaction() as db:
        await db.execute(
            text("UPDATE prescriptions SET diagnosis_sealed = :v WHERE id = :id"),
            {"v": sealed, "id": prescription_id},
        )


async def test_the_diagnosis_is_not_in_the_database_in_clear(
    client: httpx.AsyncClient,
    consultation: MakeConsultation,
    issued: Make,
    database: Database,
) -> None:
    visit = await consultation()
    prescription = await issued(visit, notes=f"notes {CANARY}")
    read = await client.get(
        f"/api/v1/prescriptions/{prescription['id']}", headers=visit.patient.headers
    )
    assert CANARY in read.json()["diagnosis"]
    assert CANARY in read.json()["notes"]
    async with database.transaction() as db:
        rows = (await db.execute(text("SELECT t::text FROM prescriptions t"))).scalars().all()
        raw = (
            await db.execute(
                text(
                    "SELECT diagnosis_sealed || coalesce(notes_sealed, ''::bytea) "
                    "FROM prescriptions"
                )
            )
        ).scalars()
        others = [
            (
                await db.execute(text(f"SELECT coalesce(string_agg(t::text, ''), '') FROM {t} t"))
            ).scalar_one()
            for t in ("prescription_lines", "audit_events", "notifications")
        ]
    assert rows
    assert all(CANARY not in row for row in rows)
    assert all(CANARY.encode() not in value for value in raw)
    assert all(CANARY not in dump for dump in others)


async def test_one_flipped_bit_is_a_clean_error(
    client: httpx.AsyncClient,
    consultation: MakeConsultation,
    write: Make,
    database: Database,
    settings: Settings,
) -> None:
    visit = await consultation()
    draft = await write(visit)
    sealed = bytearray(await _sealed(database, draft["id"]))
    sealed[-5] ^= 0x01
    await _store(database, draft["id"], bytes(sealed))

    answer = await client.get(f"/api/v1/prescriptions/{draft['id']}", headers=visit.doctor.headers)

    assert answer.status_code == 500
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["code"] == "unreadable"
    assert CANARY not in answer.text
    scope = CallScope.system(settings)
    async with database.transaction() as db:
        await scope.unlock_sealed(db, bytes(sealed))
    row = {"id": uuid.UUID(draft["id"]), "diagnosis_sealed": bytes(sealed)}
    with pytest.raises(Unreadable):
        scope.keyring.open(DIAGNOSIS, row)


async def test_a_ciphertext_copied_to_another_row_does_not_decrypt(
    client: httpx.AsyncClient,
    consultation: MakeConsultation,
    write: Make,
    database: Database,
) -> None:
    visit = await consultation()
    first = await write(visit)
    second = await write(visit, diagnosis="Something else entirely")
    await _store(database, second["id"], await _sealed(database, first["id"]))

    answer = await client.get(f"/api/v1/prescriptions/{second['id']}", headers=visit.doctor.headers)

    assert answer.status_code == 500
    assert answer.json()["code"] == "unreadable"
    assert CANARY not in answer.text
    # The original still reads.
    again = await client.get(f"/api/v1/prescriptions/{first['id']}", headers=visit.doctor.headers)
    assert again.status_code == 200
    assert CANARY in again.json()["diagnosis"]


async def test_the_associated_data_is_the_row_and_the_field(
    consultation: MakeConsultation, write: Make, database: Database, settings: Settings
) -> None:
    """The re-encryption command relies on this exact associated data (beside the header of
    the patient's data key that seals it)."""
    visit = await consultation()
    draft = await write(visit)
    sealed = await _sealed(database, draft["id"])
    assert DIAGNOSIS.associated_data({"id": draft["id"]}) == (
        f"prescription:{draft['id']}:diagnosis".encode()
    )
    scope = CallScope.system(settings)
    async with database.transaction() as db:
        await scope.unlock_sealed(db, sealed)
    row = {"id": uuid.UUID(draft["id"]), "diagnosis_sealed": sealed, "notes_sealed": sealed}
    assert CANARY in (scope.keyring.open_text(DIAGNOSIS, row) or "")
    with pytest.raises(Unreadable):
        scope.keyring.open(NOTES, row)


async def test_the_database_refuses_to_change_an_issued_prescription(
    consultation: MakeConsultation, issued: Make, database: Database
) -> None:
    visit = await consultation()
    prescription = await issued(visit)
    sealed = await _sealed(database, prescription["id"])

    # Flip a bit: a new last byte of 0 would be no change at all when the tag ends in 0.
    with pytest.raises(DBAPIError) as refused:
        await _store(database, prescription["id"], sealed[:-1] + bytes([sealed[-1] ^ 0x01]))
    assert getattr(refused.value.orig, "sqlstate", None) == "P0001"
    assert "an issued prescription cannot be changed" in str(refused.value)

    with pytest.raises(DBAPIError):
        async with database.transaction() as db:
            await db.execute(
                text("UPDATE prescription_lines SET name = 'Morphine' WHERE prescription_id = :id"),
                {"id": prescription["id"]},
            )
    assert await _sealed(database, prescription["id"]) == sealed
