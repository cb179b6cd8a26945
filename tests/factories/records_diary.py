"""Factories for the diary sections and documents of the health record: valid bodies per
section, an added entry, a grant, an uploaded document, and the rows and files they leave."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select, text

from carebridge.platform.db import Database
from carebridge.records.models import Allergy, Condition, Immunization, RecordDocument, Symptom
from tests.factories.records import RECORD_CANARY

Json = dict[str, Any]
Headers = dict[str, str]


@dataclass(frozen=True)
class DiaryCase:
    section: str  # the path segment
    table: str
    model: type[Any]
    body: Json  # a valid body to add
    patch: Json  # a valid change
    changed: Json  # what the change shows


def _ago(days: int) -> str:
    return (datetime.now(UTC).date() - timedelta(days=days)).isoformat()


CASES = (
    DiaryCase(
        "symptoms", "record_symptoms", Symptom,
        {"name": "Cough", "severity": 4, "duration_minutes": 30,
         "onset_at": (datetime.now(UTC) - timedelta(hours=3)).isoformat(),
         "note": f"at night {RECORD_CANARY}"},
        {"severity": 6, "duration_minutes": None}, {"severity": 6, "duration_minutes": None},
    ),
    DiaryCase(
        "allergies", "record_allergies", Allergy,
        {"substance": "Penicillin", "reaction": "Hives", "severity": "moderate",
         "noted_on": _ago(400), "note": f"as a child {RECORD_CANARY}"},
        {"severity": "severe"}, {"severity": "severe", "substance": "Penicillin"},
    ),
    DiaryCase(
        "conditions", "record_conditions", Condition,
        {"name": "Asthma", "code": "J45", "status": "active", "onset_on": _ago(900),
         "note": f"mild {RECORD_CANARY}"},
        {"status": "remission", "resolved_on": _ago(10)},
        {"status": "remission", "resolved_on": _ago(10)},
    ),
    DiaryCase(
        "immunizations", "record_immunizations", Immunization,
        {"vaccine": "Tetanus", "dose_number": 2, "given_on": _ago(30), "lot": "AB123",
         "given_by": "City clinic", "note": f"left arm {RECORD_CANARY}"},
        {"lot": "AB124", "note": None}, {"lot": "AB124", "note": None},
    ),
)  # fmt: skip
CASE_IDS = [case.section for case in CASES]
BY_SECTION = {case.section: case for case in CASES}


async def add_entry(
    client: httpx.AsyncClient, headers: Headers, section: str, **overrides: Any
) -> Json:
    body = {**BY_SECTION[section].body, **overrides}
    answer = await client.post(f"/api/v1/records/{section}", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    result: Json = answer.json()
    return result


async def grant(
    client: httpx.AsyncClient, patient: Headers, grantee_id: uuid.UUID, sections: list[str]
) -> None:
    expires_at = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    body = {"grantee_id": str(grantee_id), "sections": sections, "expires_at": expires_at}
    answer = await client.post("/api/v1/records/grants", json=body, headers=patient)
    assert answer.status_code == 201, answer.text


async def count(database: Database, model: type[Any], patient_id: uuid.UUID) -> int:
    async with database.transaction() as db:
        found = await db.scalar(
            select(func.count()).select_from(model).where(model.patient_id == patient_id)
        )
    return int(found or 0)


async def sealed_notes(database: Database, table: str, patient_id: uuid.UUID) -> list[bytes]:
    """The note column as a backup holds it."""
    async with database.transaction() as db:
        rows = await db.execute(
            text(f"SELECT note_sealed FROM {table} WHERE patient_id = :p"),
            {"p": patient_id},
        )
    return [bytes(row[0]) for row in rows if row[0] is not None]


async def upload(
    client: httpx.AsyncClient,
    headers: Headers,
    file: tuple[str, bytes, str],
    *,
    category: str = "lab_result",
    title: str = "Blood count",
    dated_on: str | None = None,
) -> httpx.Response:
    form = {"category": category, "title": title}
    if dated_on is not None:
        form["dated_on"] = dated_on
    return await client.post(
        "/api/v1/records/documents", data=form, files={"file": file}, headers=headers
    )


async def documents_of(database: Database, patient_id: uuid.UUID) -> int:
    return await count(database, RecordDocument, patient_id)


# The walking tests' objects (tests/factories/ownership.py, tests/factories/openapi.py): an entry
# of each section, by the name of its path parameter: its list path, a body and a change.
ENTRIES: dict[str, tuple[str, Json, Json]] = {
    "symptom_id": ("/api/v1/records/symptoms", {"name": "Cough", "severity": 3}, {"severity": 4}),
    "allergy_id": ("/api/v1/records/allergies", {"substance": "Latex"}, {"severity": "mild"}),
    "condition_id": ("/api/v1/records/conditions", {"name": "Asthma"}, {"status": "remission"}),
    "immunization_id": (
        "/api/v1/records/immunizations",
        {"vaccine": "Tetanus", "given_on": "2020-01-02"},
        {"lot": "A1"},
    ),
}


async def made_records(client: httpx.AsyncClient, patient: Headers, note: str) -> dict[str, str]:
    """One entry of each diary section and one document of the patient, by path parameter."""
    made = {}
    for name, (path, body, _) in ENTRIES.items():
        answer = await client.post(path, json={**body, "note": note}, headers=patient)
        assert answer.status_code == 201, answer.text
        made[name] = str(answer.json()["id"])
    document = await upload(client, patient, ("letter.txt", note.encode(), "text/plain"))
    assert document.status_code == 201, document.text
    made["document_id"] = str(document.json()["id"])
    return made


# Valid values of the diary's and documents' fields for the malformed-input walk
# (tests/factories/openapi.py: the schema alone gives a future instant and no date).
EXAMPLES: Json = {
    "onset_at": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
    "noted_on": "2020-01-02",
    "onset_on": "2020-01-02",
    "given_on": "2020-01-02",
    "dated_on": "2020-01-02",
    "resolved_on": None,  # a condition's example status is `active`: still going on
}
