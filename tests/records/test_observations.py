"""The observations API: who may add, read, correct and delete readings; a clinician's
observation; what is stored (the canonical value, the flag, the time zone, the sealed note)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select

from carebridge.accounts.models import Role
from carebridge.compliance.models import AuditEvent
from carebridge.platform.db import Database
from carebridge.records.models import Observation
from tests.factories import Person
from tests.factories.prescriptions import MakeConsultation
from tests.factories.records import RECORD_CANARY, add_observation, observation_body

MakePerson = Callable[..., Awaitable[Person]]
URL = "/api/v1/records/observations"


class TestAdding:
    async def test_callers_refused(self, client: httpx.AsyncClient, person: MakePerson) -> None:
        assert (await client.post(URL, json=observation_body())).status_code == 401
        for role in (Role.doctor, Role.nurse, Role.admin):
            someone = await person(role)
            answer = await client.post(URL, json=observation_body(), headers=someone.headers)
            assert answer.status_code == 403, role

    async def test_a_reading_is_stored_flagged_in_the_patients_time_zone(
        self, client: httpx.AsyncClient, database: Database, person: MakePerson
    ) -> None:
        patient = await person()
        zone = await client.patch(
            "/api/v1/me", json={"time_zone": "Asia/Kolkata"}, headers=patient.headers
        )
        assert zone.status_code == 200, zone.text
        made = await add_observation(
            client,
            patient.headers,
            kind="body_temperature",
            value=102.2,
            unit="[degF]",
            measured_at="2026-11-20T06:30:00+05:30",
        )
        assert made["value"] == 39.0
        assert made["flag"] == "high"
        assert made["time_zone"] == "Asia/Kolkata"
        assert made["measured_at"] == "2026-11-20T01:00:00Z"
        assert made["source"] == "patient"
        assert made["note"].endswith(RECORD_CANARY)
        async with database.transaction() as db:
            sealed = await db.scalar(
                select(Observation.note_sealed).where(Observation.id == uuid.UUID(made["id"]))
            )
            audited = await db.scalar(
                select(AuditEvent.details).where(
                    AuditEvent.action == "record.write",
                    AuditEvent.resource_id == str(patient.user.id),
                )
            )
        assert sealed is not None
        assert RECORD_CANARY.encode() not in sealed
        assert audited is not None
        assert audited["section"] == "observations"
        assert audited["change"] == "create"

    async def test_a_reading_in_the_future_is_refused(
        self, client: httpx.AsyncClient, person: MakePerson
    ) -> None:
        patient = await person()
        later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        answer = await client.post(
            URL, json=observation_body(measured_at=later), headers=patient.headers
        )
        assert answer.status_code == 422
        assert answer.json()["code"] == "measured_in_future"


class TestClinicians:
    async def test_the_doctor_who_cares_adds_a_clinician_observation(
        self, client: httpx.AsyncClient, consultation: MakeConsultation
    ) -> None:
        visit = await consultation("completed")
        url = f"/api/v1/patients/{visit.patient.user.id}/records/observations"
        body = observation_body(kind="blood_pressure", value=150, value2=95)
        made = await client.post(url, json=body, headers=visit.doctor.headers)
        assert made.status_code == 201, made.text
        assert made.json()["source"] == "clinician"
        assert made.json()["recorded_by_id"] == str(visit.doctor.user.id)
        assert made.json()["flag"] == "high"
        mine = await client.get(URL, headers=visit.patient.headers)
        assert [item["id"] for item in mine.json()["items"]] == [made.json()["id"]]
        # The patient does not change or delete the doctor's reading.
        reading = made.json()["id"]
        changed = await client.patch(
            f"{URL}/{reading}", json={"value": 120}, headers=visit.patient.headers
        )
        assert changed.status_code == 403
        assert changed.json()["code"] == "not_your_entry"
        deleted = await client.delete(f"{URL}/{reading}", headers=visit.patient.headers)
        assert deleted.status_code == 403

    async def test_a_grant_shares_for_reading_only(
        self, client: httpx.AsyncClient, person: MakePerson
    ) -> None:
        patient, doctor = await person(), await person(Role.doctor)
        granted = await client.post(
            "/api/v1/records/grants",
            json={
                "grantee_id": str(doctor.user.id),
                "sections": ["observations"],
                "expires_at": (datetime.now(UTC) + timedelta(days=3)).isoformat(),
            },
            headers=patient.headers,
        )
        assert granted.status_code == 201
        url = f"/api/v1/patients/{patient.user.id}/records/observations"
        assert (await client.get(url, headers=doctor.headers)).status_code == 200
        answer = await client.post(url, json=observation_body(), headers=doctor.headers)
        assert answer.status_code == 403
        assert answer.json()["code"] == "read_only_grant"
        stranger = await person(Role.doctor)
        refused = await client.post(url, json=observation_body(), headers=stranger.headers)
        assert refused.status_code == 404


class TestListingAndCorrecting:
    async def test_lists_filter_and_page(
        self, client: httpx.AsyncClient, person: MakePerson
    ) -> None:
        patient, other = await person(), await person()
        start = datetime(2026, 11, 1, 8, tzinfo=UTC)
        for day in range(5):
            at = (start + timedelta(days=day)).isoformat()
            await add_observation(client, patient.headers, measured_at=at)
            await add_observation(
                client, patient.headers, kind="steps", value=4000 + day, measured_at=at
            )
        await add_observation(client, other.headers)
        steps = await client.get(
            URL,
            params={"kind": "steps", "from": "2026-11-02T00:00:00Z", "to": "2026-11-04T00:00:00Z"},
            headers=patient.headers,
        )
        assert [item["value"] for item in steps.json()["items"]] == [4002, 4001]
        first = await client.get(URL, params={"limit": 4}, headers=patient.headers)
        assert len(first.json()["items"]) == 4
        rest = await client.get(
            URL,
            params={"limit": 100, "cursor": first.json()["next_cursor"]},
            headers=patient.headers,
        )
        seen = [i["id"] for i in first.json()["items"]] + [i["id"] for i in rest.json()["items"]]
        assert len(seen) == len(set(seen)) == 10
        bad = await client.get(URL, params={"kind": "mood"}, headers=patient.headers)
        assert bad.status_code == 422

    async def test_correct_and_delete_ones_own_reading(
        self, client: httpx.AsyncClient, person: MakePerson
    ) -> None:
        patient, other = await person(), await person()
        made = await add_observation(client, patient.headers, kind="body_weight", value=80)
        url = f"{URL}/{made['id']}"
        theirs = await client.patch(url, json={"value": 81}, headers=other.headers)
        assert theirs.status_code == 404
        changed = await client.patch(
            url, json={"value": 180, "unit": "[lb_av]", "note": None}, headers=patient.headers
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["value"] == 81.65
        assert changed.json()["entered_unit"] == "[lb_av]"
        assert changed.json()["note"] is None
        impossible = await client.patch(url, json={"value": 9000}, headers=patient.headers)
        assert impossible.status_code == 422
        for cleared in ({"value": None}, {"unit": None}, {"measured_at": None}):
            answer = await client.patch(url, json=cleared, headers=patient.headers)
            assert answer.status_code == 422, (cleared, answer.text)
            assert answer.json()["code"] == "required_field"
        assert (await client.delete(url, headers=other.headers)).status_code == 404
        assert (await client.delete(url, headers=patient.headers)).status_code == 204
        assert (await client.get(URL, headers=patient.headers)).json()["items"] == []
