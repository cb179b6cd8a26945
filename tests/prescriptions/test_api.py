"""The prescriptions API: who may write, read, change, issue and cancel; lists; the patient's
notice."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlalchemy import select

from carebridge.accounts.models import Role
from carebridge.compliance.models import AuditEvent
from carebridge.notifications.models import Notification
from carebridge.platform.db import Database
from tests.factories import Person
from tests.factories.prescriptions import CANARY, MakeConsultation, body

Json = dict[str, Any]
Make = Callable[..., Awaitable[Json]]
MakePerson = Callable[..., Awaitable[Person]]


class TestWriting:
    async def test_callers_refused(
        self, client: httpx.AsyncClient, consultation: MakeConsultation, person: MakePerson
    ) -> None:
        visit = await consultation()
        path = f"/api/v1/appointments/{visit.appointment.id}/prescriptions"
        assert (await client.post(path, json=body())).status_code == 401
        as_patient = await client.post(path, json=body(), headers=visit.patient.headers)
        assert as_patient.status_code == 403
        other = await consultation()  # another doctor: not their appointment
        as_other = await client.post(path, json=body(), headers=other.doctor.headers)
        assert as_other.status_code == 404
        admin = await person(Role.admin)
        assert (await client.post(path, json=body(), headers=admin.headers)).status_code == 403

    async def test_only_during_or_after_the_appointment(
        self, client: httpx.AsyncClient, consultation: MakeConsultation
    ) -> None:
        for status in ("scheduled", "cancelled", "no_show", "pending_payment"):
            visit = await consultation("scheduled" if status == "pending_payment" else status)
            answer = await client.post(
                f"/api/v1/appointments/{visit.appointment.id}/prescriptions",
                json=body(),
                headers=visit.doctor.headers,
            )
            assert answer.status_code == 409, status
            assert answer.json()["code"] == "appointment_not_open"
        done = await consultation("completed")
        answer = await client.post(
            f"/api/v1/appointments/{done.appointment.id}/prescriptions",
            json=body(),
            headers=done.doctor.headers,
        )
        assert answer.status_code == 201

    async def test_a_draft_with_its_lines(
        self, client: httpx.AsyncClient, consultation: MakeConsultation, write: Make
    ) -> None:
        visit = await consultation()
        draft = await write(visit)
        assert draft["status"] == "draft"
        assert draft["patient_id"] == str(visit.patient.user.id)
        assert draft["doctor_name"] == visit.doctor.user.name
        assert CANARY in draft["diagnosis"]
        assert [line["name"] for line in draft["lines"]] == ["Amoxicillin", "Paracetamol"]
        assert [line["position"] for line in draft["lines"]] == [1, 2]
        assert draft["verification_code"] is None
        assert draft["pdf_status"] is None

    async def test_bad_input_is_422_and_writes_nothing(
        self, client: httpx.AsyncClient, consultation: MakeConsultation
    ) -> None:
        visit = await consultation()
        path = f"/api/v1/appointments/{visit.appointment.id}/prescriptions"
        for bad in (
            body(lines=[{"name": ""}]),
            body(lines=[{"name": "X", "refills": 13}]),
            body(lines=[{"name": "X"}] * 51),
            body(diagnosis="x" * 4001),
            body(patient_id="00000000-0000-0000-0000-000000000000"),
        ):
            answer = await client.post(path, json=bad, headers=visit.doctor.headers)
            assert answer.status_code == 422, answer.text
        listed = await client.get("/api/v1/prescriptions", headers=visit.doctor.headers)
        assert listed.json()["items"] == []


class TestReading:
    async def test_who_sees_what(
        self,
        client: httpx.AsyncClient,
        consultation: MakeConsultation,
        write: Make,
        issued: Make,
        person: MakePerson,
    ) -> None:
        visit = await consultation()
        draft = await write(visit)
        done = await issued(visit)
        stranger = await consultation()
        for prescription in (draft, done):
            path = f"/api/v1/prescriptions/{prescription['id']}"
            assert (await client.get(path)).status_code == 401
            assert (await client.get(path, headers=stranger.patient.headers)).status_code == 404
            assert (await client.get(path, headers=stranger.doctor.headers)).status_code == 404
            assert (await client.get(path, headers=visit.doctor.headers)).status_code == 200
        admin = await person(Role.admin)
        assert (
            await client.get(f"/api/v1/prescriptions/{draft['id']}", headers=admin.headers)
        ).status_code == 200
        # A draft is the doctor's work in progress: not shown to the patient yet.
        patient = visit.patient.headers
        assert (
            await client.get(f"/api/v1/prescriptions/{draft['id']}", headers=patient)
        ).status_code == 404
        mine = await client.get(f"/api/v1/prescriptions/{done['id']}", headers=patient)
        assert mine.status_code == 200
        assert mine.json()["verification_code"] == done["verification_code"]

    async def test_each_read_of_the_diagnosis_is_audited(
        self,
        client: httpx.AsyncClient,
        consultation: MakeConsultation,
        issued: Make,
        database: Database,
    ) -> None:
        visit = await consultation()
        done = await issued(visit)
        for _ in range(2):
            path = f"/api/v1/prescriptions/{done['id']}"
            assert (await client.get(path, headers=visit.patient.headers)).status_code == 200
        async with database.transaction() as db:
            reads = (
                await db.scalars(
                    select(AuditEvent).where(
                        AuditEvent.resource_id == done["id"],
                        AuditEvent.action == "prescription.read",
                    )
                )
            ).all()
        assert len(reads) == 2
        assert {event.actor_id for event in reads} == {visit.patient.user.id}

    async def test_lists(
        self,
        client: httpx.AsyncClient,
        consultation: MakeConsultation,
        write: Make,
        issued: Make,
        person: MakePerson,
    ) -> None:
        visit = await consultation()
        second = await consultation(doctor=visit.doctor)
        draft = await write(visit)
        done = [await issued(visit, render=False) for _ in range(3)]
        other = await issued(second, render=False)
        assert (await client.get("/api/v1/prescriptions")).status_code == 401

        mine = await client.get("/api/v1/prescriptions", headers=visit.patient.headers)
        # (One transaction per test: every row has the same created_at, so no order to check.)
        assert {p["id"] for p in mine.json()["items"]} == {p["id"] for p in done}
        assert all("diagnosis" not in p for p in mine.json()["items"])

        wrote = await client.get("/api/v1/prescriptions", headers=visit.doctor.headers)
        assert {p["id"] for p in wrote.json()["items"]} == {
            draft["id"],
            other["id"],
            *(p["id"] for p in done),
        }
        only = await client.get(
            "/api/v1/prescriptions",
            params={"patient": str(second.patient.user.id)},
            headers=visit.doctor.headers,
        )
        assert [p["id"] for p in only.json()["items"]] == [other["id"]]

        first = await client.get(
            "/api/v1/prescriptions", params={"limit": 2}, headers=visit.doctor.headers
        )
        rest = await client.get(
            "/api/v1/prescriptions",
            params={"limit": 2, "cursor": first.json()["next_cursor"]},
            headers=visit.doctor.headers,
        )
        paged = [p["id"] for p in first.json()["items"] + rest.json()["items"]]
        assert paged == [p["id"] for p in wrote.json()["items"]][:4]

        stranger = await consultation()
        theirs = await client.get("/api/v1/prescriptions", headers=stranger.doctor.headers)
        assert theirs.json()["items"] == []
        admin = await person(Role.admin)
        everything = await client.get(
            "/api/v1/prescriptions", params={"limit": 100}, headers=admin.headers
        )
        assert {draft["id"], other["id"]} <= {p["id"] for p in everything.json()["items"]}
        bad = await client.get(
            "/api/v1/prescriptions", params={"cursor": "nonsense"}, headers=admin.headers
        )
        assert bad.status_code == 422


class TestChanging:
    async def test_a_draft_is_patched(
        self, client: httpx.AsyncClient, consultation: MakeConsultation, write: Make
    ) -> None:
        visit = await consultation()
        draft = await write(visit)
        path = f"/api/v1/prescriptions/{draft['id']}"
        assert (await client.patch(path, json={"notes": None})).status_code == 401
        assert (
            await client.patch(path, json={"notes": None}, headers=visit.patient.headers)
        ).status_code == 403
        stranger = await consultation()
        assert (
            await client.patch(path, json={"notes": None}, headers=stranger.doctor.headers)
        ).status_code == 404

        answer = await client.patch(
            path,
            json={"notes": None, "lines": [{"name": "Ibuprofen", "strength": "400 mg"}]},
            headers=visit.doctor.headers,
        )
        assert answer.status_code == 200, answer.text
        changed = answer.json()
        assert changed["notes"] is None
        assert CANARY in changed["diagnosis"]  # not given: kept
        assert [(x["position"], x["name"]) for x in changed["lines"]] == [(1, "Ibuprofen")]

    async def test_an_issued_prescription_cannot_be_patched(
        self, client: httpx.AsyncClient, consultation: MakeConsultation, issued: Make
    ) -> None:
        visit = await consultation()
        done = await issued(visit)
        answer = await client.patch(
            f"/api/v1/prescriptions/{done['id']}",
            json={"diagnosis": "changed"},
            headers=visit.doctor.headers,
        )
        assert answer.status_code == 409
        assert answer.json()["code"] == "not_draft"
        again = await client.post(
            f"/api/v1/prescriptions/{done['id']}/issue", headers=visit.doctor.headers
        )
        assert again.status_code == 409
        read = await client.get(f"/api/v1/prescriptions/{done['id']}", headers=visit.doctor.headers)
        assert CANARY in read.json()["diagnosis"]

    async def test_issuing_tells_the_patient_without_health_details(
        self,
        client: httpx.AsyncClient,
        consultation: MakeConsultation,
        write: Make,
        database: Database,
    ) -> None:
        visit = await consultation()
        draft = await write(visit)
        path = f"/api/v1/prescriptions/{draft['id']}/issue"
        assert (await client.post(path)).status_code == 401
        assert (await client.post(path, headers=visit.patient.headers)).status_code == 403
        answer = await client.post(path, headers=visit.doctor.headers)
        assert answer.status_code == 200, answer.text
        done = answer.json()
        assert done["status"] == "issued"
        assert done["issued_at"]
        assert done["pdf_status"] == "pending"
        assert len(done["verification_code"]) == 19
        async with database.transaction() as db:
            notices = (
                await db.scalars(
                    select(Notification).where(Notification.recipient_id == visit.patient.user.id)
                )
            ).all()
        assert [n.kind for n in notices] == ["prescription_issued"]
        assert notices[0].link == f"/prescriptions/{draft['id']}"
        assert visit.doctor.user.name in notices[0].body
        for secret in (CANARY, "Amoxicillin", "Paracetamol"):
            assert secret not in notices[0].title + notices[0].body

    async def test_issuing_needs_a_line(
        self, client: httpx.AsyncClient, consultation: MakeConsultation, write: Make
    ) -> None:
        visit = await consultation()
        draft = await write(visit, lines=[])
        answer = await client.post(
            f"/api/v1/prescriptions/{draft['id']}/issue", headers=visit.doctor.headers
        )
        assert answer.status_code == 409
        assert answer.json()["code"] == "no_lines"

    async def test_cancelling(
        self,
        client: httpx.AsyncClient,
        consultation: MakeConsultation,
        issued: Make,
        write: Make,
        person: MakePerson,
    ) -> None:
        visit = await consultation()
        done = await issued(visit)
        path = f"/api/v1/prescriptions/{done['id']}/cancel"
        reason = {"reason": "Wrong strength"}
        assert (await client.post(path, json=reason)).status_code == 401
        refused = await client.post(path, json=reason, headers=visit.patient.headers)
        assert refused.status_code == 403
        stranger = await consultation()
        refused = await client.post(path, json=reason, headers=stranger.doctor.headers)
        assert refused.status_code == 404
        no_reason = await client.post(path, json={}, headers=visit.doctor.headers)
        assert no_reason.status_code == 422

        answer = await client.post(path, json=reason, headers=visit.doctor.headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "cancelled"
        assert answer.json()["cancel_reason"] == "Wrong strength"
        again = await client.post(path, json=reason, headers=visit.doctor.headers)
        assert again.status_code == 409

        # An admin cancels a draft too.
        draft = await write(visit)
        admin = await person(Role.admin)
        by_admin = await client.post(
            f"/api/v1/prescriptions/{draft['id']}/cancel", json=reason, headers=admin.headers
        )
        assert by_admin.status_code == 200
        assert by_admin.json()["status"] == "cancelled"
