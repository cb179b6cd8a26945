"""Who reads which section of a patient's record (records/policy.py), walked over every clinician
read route of the application: the patient, a doctor with an appointment (past within
CAREBRIDGE_RECORD_ACCESS_DAYS, or ahead), one whose relationship expired, one with a grant (then
revoked, then expired), one with nothing, a nurse with nothing, an administrator. Every clinician
read is one audit row and one line of the patient's access log; breaking the glass opens the
record and tells the patient and the administrators."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import time_machine
from fastapi import FastAPI
from sqlalchemy import func, select

from carebridge.accounts.models import Role
from carebridge.compliance.models import AuditEvent
from carebridge.notifications.models import Notification
from carebridge.platform.db import Database
from carebridge.records.models import Section
from tests.factories import Person, TokenFor
from tests.factories.records import (
    CLINICIAN_PREFIX,
    RECORD_CANARY,
    add_observation,
    appointment_between,
    record_read_routes,
)

MakePerson = Callable[..., Awaitable[Person]]

# The section each clinician read route reads: a new route fails here until it is named.
SECTION_OF: dict[str, frozenset[Section]] = {
    "observations": frozenset({Section.observations}),
    "observations/series": frozenset({Section.observations}),
    "observations/latest": frozenset({Section.observations}),
    "medications": frozenset({Section.medications}),
    "symptoms": frozenset({Section.symptoms}),
    "allergies": frozenset({Section.allergies}),
    "conditions": frozenset({Section.conditions}),
    "immunizations": frozenset({Section.immunizations}),
    "documents": frozenset({Section.documents}),
    # The summary stands on the readings (adherence shows "not shared" without medications).
    "summary": frozenset({Section.observations}),
}
QUERY: dict[str, dict[str, str]] = {"observations/series": {"kind": "heart_rate"}}


def _section(path: str) -> frozenset[Section]:
    tail = path.removeprefix(CLINICIAN_PREFIX)
    assert tail in SECTION_OF, f"{path}: say in SECTION_OF which sections it reads"
    return SECTION_OF[tail]


async def _audit_rows(database: Database, actor: uuid.UUID, patient: uuid.UUID) -> int:
    async with database.transaction() as db:
        count = await db.scalar(
            select(func.count()).where(
                AuditEvent.actor_id == actor,
                AuditEvent.action == "record.read",
                AuditEvent.outcome == "success",  # a refused clinician's try is ``denied``
                AuditEvent.resource_id == str(patient),
            )
        )
    return int(count or 0)


class Reader:
    def __init__(self, client: httpx.AsyncClient, app: FastAPI, database: Database) -> None:
        self.client, self.database = client, database
        self.routes = record_read_routes(app)
        assert len(self.routes) >= 3, self.routes
        self.all: set[Section] = set().union(*(_section(path) for path in self.routes))

    async def readable(self, person: Person, patient: uuid.UUID) -> set[Section]:
        """The sections ``person`` reads of ``patient``'s record, route by route: a route
        answers 200 (with one audit row per read) or a refusal, never anything else."""
        sections: set[Section] = set()
        for path in self.routes:
            before = await _audit_rows(self.database, person.user.id, patient)
            answer = await self.client.get(
                path.replace("{patient_id}", str(patient)),
                params=QUERY.get(path.removeprefix(CLINICIAN_PREFIX), {}),
                headers=person.headers,
            )
            after = await _audit_rows(self.database, person.user.id, patient)
            if answer.status_code == 200:
                sections |= _section(path)
                assert after == before + 1, (path, "one audit row per clinician read")
            else:
                assert answer.status_code in (403, 404), (path, answer.text)
                assert RECORD_CANARY not in answer.text
                assert after == before, (path, "a refused read reads nothing")
        return sections


async def _grant(
    client: httpx.AsyncClient, patient: Person, grantee: Person, sections: list[str], **ahead: Any
) -> str:
    expires = datetime.now(UTC) + timedelta(**(ahead or {"days": 30}))
    answer = await client.post(
        "/api/v1/records/grants",
        json={
            "grantee_id": str(grantee.user.id),
            "sections": sections,
            "expires_at": expires.isoformat(),
        },
        headers=patient.headers,
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


async def test_each_caller_reads_exactly_what_the_policy_says(
    client: httpx.AsyncClient,
    app: FastAPI,
    database: Database,
    person: MakePerson,
    token_for: TokenFor,
) -> None:
    reader = Reader(client, app, database)
    patient = await person(Role.patient)
    pid = patient.user.id
    await add_observation(client, patient.headers)
    now = datetime.now(UTC)
    recent, ahead, expired, granted, nobody = [await person(Role.doctor) for _ in range(5)]
    nurse, admin = await person(Role.nurse), await person(Role.admin)
    await appointment_between(
        database, recent.user, patient.user, "completed", now - timedelta(days=29)
    )
    await appointment_between(
        database, ahead.user, patient.user, "scheduled", now + timedelta(days=60)
    )
    await appointment_between(
        database, expired.user, patient.user, "completed", now - timedelta(days=31)
    )
    await appointment_between(
        database, nobody.user, patient.user, "cancelled", now - timedelta(days=1)
    )

    assert await reader.readable(recent, pid) == reader.all
    assert await reader.readable(ahead, pid) == reader.all
    for refused in (expired, granted, nobody, nurse, admin, patient):
        assert await reader.readable(refused, pid) == set(), refused.user.role
    # The patient reads their own record under /records.
    own = await client.get("/api/v1/records/observations", headers=patient.headers)
    assert own.status_code == 200
    assert RECORD_CANARY in own.text

    # A grant of one section, then revoked; one of all sections to the nurse, then expired.
    grant = await _grant(client, patient, granted, ["observations"])
    assert await reader.readable(granted, pid) == {Section.observations}
    revoked = await client.delete(f"/api/v1/records/grants/{grant}", headers=patient.headers)
    assert revoked.status_code == 204
    assert await reader.readable(granted, pid) == set()
    await _grant(client, patient, nurse, ["all"], hours=1)
    assert await reader.readable(nurse, pid) == reader.all
    with time_machine.travel(now + timedelta(hours=2), tick=True):
        nurse = Person(nurse.user, await token_for(nurse.user))  # a new access token
        assert await reader.readable(nurse, pid) == set()
    # The relationship of `recent` ends 30 days after the appointment.
    with time_machine.travel(now + timedelta(days=2), tick=True):
        recent = Person(recent.user, await token_for(recent.user))
        assert await reader.readable(recent, pid) == set()


async def test_a_grant_of_some_sections_hides_the_others(
    client: httpx.AsyncClient, app: FastAPI, database: Database, person: MakePerson
) -> None:
    reader = Reader(client, app, database)
    patient, doctor = await person(Role.patient), await person(Role.doctor)
    others = [s.value for s in Section if s != Section.observations]
    await _grant(client, patient, doctor, others)
    assert await reader.readable(doctor, patient.user.id) == reader.all - {Section.observations}


async def test_every_clinician_read_is_in_the_patients_access_log(
    client: httpx.AsyncClient, app: FastAPI, database: Database, person: MakePerson
) -> None:
    patient, doctor = await person(Role.patient), await person(Role.doctor)
    now = datetime.now(UTC)
    await appointment_between(
        database, doctor.user, patient.user, "scheduled", now + timedelta(days=1)
    )
    await add_observation(client, patient.headers)
    routes = record_read_routes(app)
    for path in routes:
        answer = await client.get(
            path.replace("{patient_id}", str(patient.user.id)),
            params=QUERY.get(path.removeprefix(CLINICIAN_PREFIX), {}),
            headers=doctor.headers,
        )
        assert answer.status_code == 200, (path, answer.text)
    # The patient's own reads are not listed; the doctor's are, newest first.
    await client.get("/api/v1/records/observations", headers=patient.headers)
    log = await client.get(
        "/api/v1/records/access-log", params={"limit": 100}, headers=patient.headers
    )
    assert log.status_code == 200, log.text
    reads = [entry for entry in log.json()["items"] if entry["action"] == "read"]
    assert len(reads) == len(routes)
    assert {entry["actor_id"] for entry in reads} == {str(doctor.user.id)}
    assert {entry["actor_name"] for entry in reads} == {doctor.user.name}
    assert {entry["basis"] for entry in reads} == {"care"}
    assert [e["at"] for e in reads] == sorted((e["at"] for e in reads), reverse=True)
    # Another patient's log holds none of it.
    other = await person(Role.patient)
    theirs = await client.get("/api/v1/records/access-log", headers=other.headers)
    assert theirs.json()["items"] == []
    for caller in (doctor, await person(Role.admin)):
        refused = await client.get("/api/v1/records/access-log", headers=caller.headers)
        assert refused.status_code == 403


class TestBreakingTheGlass:
    async def test_a_doctor_without_a_basis_opens_the_record_with_a_reason(
        self,
        client: httpx.AsyncClient,
        app: FastAPI,
        database: Database,
        person: MakePerson,
        token_for: TokenFor,
    ) -> None:
        reader = Reader(client, app, database)
        patient, doctor = await person(Role.patient), await person(Role.doctor)
        admins = [await person(Role.admin) for _ in range(2)]
        await add_observation(client, patient.headers)
        url = f"/api/v1/patients/{patient.user.id}/records/emergency-access"
        assert await reader.readable(doctor, patient.user.id) == set()
        short = await client.post(url, json={"reason": "urgent"}, headers=doctor.headers)
        assert short.status_code == 422
        reason = "Unconscious in the emergency room, allergies unknown"
        opened = await client.post(url, json={"reason": reason}, headers=doctor.headers)
        assert opened.status_code == 201, opened.text
        assert await reader.readable(doctor, patient.user.id) == reader.all
        again = await client.post(url, json={"reason": reason}, headers=doctor.headers)
        assert again.status_code == 409
        assert again.json()["code"] == "record_already_open"
        async with database.transaction() as db:
            told = {
                row.recipient_id: row.kind
                for row in await db.scalars(
                    select(Notification).where(
                        Notification.recipient_id.in_(
                            [patient.user.id, *(a.user.id for a in admins)]
                        )
                    )
                )
            }
            audited = await db.scalar(
                select(func.count()).where(
                    AuditEvent.action == "record.emergency_access",
                    AuditEvent.actor_id == doctor.user.id,
                    AuditEvent.resource_id == str(patient.user.id),
                )
            )
        assert told[patient.user.id] == "record_emergency_access"
        assert all(told[a.user.id] == "admin_alert" for a in admins)
        assert audited == 1
        log = await client.get("/api/v1/records/access-log", headers=patient.headers)
        entries = log.json()["items"]
        assert {e["basis"] for e in entries if e["outcome"] == "success"} == {"emergency"}
        # The tries before the opening were refused, and the patient sees them so.
        refused = [e for e in entries if e["outcome"] == "denied"]
        assert refused
        assert all(e["actor_id"] == str(doctor.user.id) for e in refused)
        # The administrators read the reason; the opening ends by itself.
        review = await client.get(
            "/api/v1/admin/records/emergency-accesses", headers=admins[0].headers
        )
        assert review.status_code == 200
        assert [item["reason"] for item in review.json()["items"]][:1] == [reason]
        later = datetime.now(UTC) + timedelta(minutes=61)
        with time_machine.travel(later, tick=True):
            doctor = Person(doctor.user, await token_for(doctor.user))
            assert await reader.readable(doctor, patient.user.id) == set()

    async def test_only_a_doctor_breaks_the_glass_on_a_patient(
        self, client: httpx.AsyncClient, person: MakePerson
    ) -> None:
        patient, nurse, admin = [await person(r) for r in (Role.patient, Role.nurse, Role.admin)]
        doctor = await person(Role.doctor)
        body = {"reason": "Unconscious in the emergency room, allergies unknown"}
        url = f"/api/v1/patients/{patient.user.id}/records/emergency-access"
        assert (await client.post(url, json=body)).status_code == 401
        for refused in (nurse, admin, patient):
            answer = await client.post(url, json=body, headers=refused.headers)
            assert answer.status_code == 403, answer.text
        not_a_patient = f"/api/v1/patients/{nurse.user.id}/records/emergency-access"
        answer = await client.post(not_a_patient, json=body, headers=doctor.headers)
        assert answer.status_code == 404
        unknown = f"/api/v1/patients/{uuid.uuid4()}/records/emergency-access"
        assert (await client.post(unknown, json=body, headers=doctor.headers)).status_code == 404


class TestGrants:
    async def test_callers_and_bad_grants_are_refused(
        self, client: httpx.AsyncClient, person: MakePerson
    ) -> None:
        patient, doctor = await person(Role.patient), await person(Role.doctor)
        other = await person(Role.patient)
        body = {
            "grantee_id": str(doctor.user.id),
            "sections": ["all"],
            "expires_at": (datetime.now(UTC) + timedelta(days=5)).isoformat(),
        }
        assert (await client.post("/api/v1/records/grants", json=body)).status_code == 401
        answer = await client.post("/api/v1/records/grants", json=body, headers=doctor.headers)
        assert answer.status_code == 403
        for bad, code in (
            ({"grantee_id": str(other.user.id)}, "no_such_clinician"),
            ({"grantee_id": str(patient.user.id)}, "no_such_clinician"),
            (
                {"expires_at": (datetime.now(UTC) - timedelta(days=1)).isoformat()},
                "expires_in_past",
            ),
            (
                {"expires_at": (datetime.now(UTC) + timedelta(days=400)).isoformat()},
                "expires_too_late",
            ),
            ({"sections": ["diary"]}, None),
            ({"sections": []}, None),
        ):
            answer = await client.post(
                "/api/v1/records/grants", json={**body, **bad}, headers=patient.headers
            )
            assert answer.status_code in (404, 422), answer.text
            if code is not None:
                assert answer.json()["code"] == code
        assert (await client.get("/api/v1/records/grants", headers=patient.headers)).json() == []
        made = await client.post("/api/v1/records/grants", json=body, headers=patient.headers)
        grant = made.json()["id"]
        theirs = await client.delete(f"/api/v1/records/grants/{grant}", headers=other.headers)
        assert theirs.status_code == 404

    async def test_a_new_grant_replaces_the_one_in_force_and_tells_the_clinician(
        self, client: httpx.AsyncClient, database: Database, person: MakePerson
    ) -> None:
        patient, nurse = await person(Role.patient), await person(Role.nurse)
        first = await _grant(client, patient, nurse, ["observations"])
        second = await _grant(client, patient, nurse, ["allergies", "medications"])
        grants = (await client.get("/api/v1/records/grants", headers=patient.headers)).json()
        assert [(g["id"], g["active"]) for g in grants] == [(second, True), (first, False)]
        assert grants[0]["sections"] == ["allergies", "medications"]
        assert grants[0]["grantee_name"] == nurse.user.name
        async with database.transaction() as db:
            kinds = list(
                await db.scalars(
                    select(Notification.kind).where(Notification.recipient_id == nurse.user.id)
                )
            )
        assert kinds == ["record_shared", "record_shared"]
