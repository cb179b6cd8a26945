"""A doctor orders a home visit for a patient in their care (an appointment ahead, or one within
CAREBRIDGE_RECORD_ACCESS_DAYS); not for anyone else. Bad requests are 4xx and write nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import func, select

from carebridge.platform.db import Database
from carebridge.visits.models import Visit
from tests.factories.records import appointment_between
from tests.factories.visits import MakePeople, visit_body


async def _count(database: Database, patient_id: object) -> int:
    async with database.transaction() as db:
        found = await db.scalar(
            select(func.count()).select_from(Visit).where(Visit.patient_id == patient_id)
        )
    return int(found or 0)


async def test_a_doctor_orders_for_a_patient_in_their_care(
    client: httpx.AsyncClient, database: Database, visit_people: MakePeople
) -> None:
    people = await visit_people()
    body = visit_body(patient_id=str(people.patient.user.id))
    refused = await client.post("/api/v1/visits", json=body, headers=people.doctor.headers)
    assert refused.status_code == 404
    assert refused.json()["code"] == "patient_not_found"
    ended = datetime.now(UTC) - timedelta(days=3)
    await appointment_between(database, people.doctor.user, people.patient.user, "completed", ended)
    ordered = await client.post("/api/v1/visits", json=body, headers=people.doctor.headers)
    assert ordered.status_code == 201, ordered.text
    assert ordered.json()["ordered_by"]["id"] == str(people.doctor.user.id)
    # The patient sees the order; the nurse and the dispatcher were not asked anything of them.
    mine = await client.get("/api/v1/visits", headers=people.patient.headers)
    assert [item["id"] for item in mine.json()["items"]] == [ordered.json()["id"]]


async def test_bad_requests_write_nothing(
    client: httpx.AsyncClient, database: Database, visit_people: MakePeople
) -> None:
    people = await visit_people()
    now = datetime.now(UTC)
    cases = {
        "window_order": {
            "window_start": (now + timedelta(hours=5)).isoformat(),
            "window_end": (now + timedelta(hours=4)).isoformat(),
        },
        "window_too_long": {
            "window_start": (now + timedelta(hours=1)).isoformat(),
            "window_end": (now + timedelta(hours=14)).isoformat(),
        },
        "window_in_past": {
            "window_start": (now - timedelta(hours=5)).isoformat(),
            "window_end": (now - timedelta(hours=4)).isoformat(),
        },
        "window_too_far": {
            "window_start": (now + timedelta(days=100)).isoformat(),
            "window_end": (now + timedelta(days=100, hours=2)).isoformat(),
        },
        "wrong_party": {"patient_id": str(people.nurse.user.id)},
        "validation_error": {"service": "massage"},
    }
    for code, change in cases.items():
        answer = await client.post(
            "/api/v1/visits", json=visit_body(**change), headers=people.patient.headers
        )
        assert answer.status_code == 422, (code, answer.text)
        assert answer.json()["code"] == code
    nurse = await client.post("/api/v1/visits", json=visit_body(), headers=people.nurse.headers)
    assert nurse.status_code == 403
    assert await _count(database, people.patient.user.id) == 0
