"""Consent over the API: admins publish versioned documents (the server numbers them), people
accept the current versions that apply to them (at sign-up too, once documents exist) and
withdraw the optional one, each answer a row with its address and user agent and an audit event;
research sharing withdrawn takes a patient out of the research extract on the next request."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError

from carebridge.accounts.models import Role, User
from carebridge.compliance.consent_models import ConsentEvent
from carebridge.compliance.models import AuditEvent
from carebridge.platform.db import Database
from tests.factories import SignIn
from tests.factories.records import add_observation
from tests.factories.users import PASSWORD

DOCUMENTS = "/api/v1/admin/consent-documents"
MINE = "/api/v1/consents"
ACCEPT = "/api/v1/me/consents"
EXTRACT = "/api/v1/admin/research/observations"
BROWSER = "Mozilla/5.0 (consent test)"


async def publish(
    client: httpx.AsyncClient, headers: dict[str, str], kind: str, **extra: Any
) -> dict[str, Any]:
    body = {"kind": kind, "title": f"{kind} title", "body": "First paragraph.\n\nSecond.", **extra}
    answer = await client.post(DOCUMENTS, json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()
    return result


def states(answer: httpx.Response) -> dict[str, tuple[str, int | None]]:
    assert answer.status_code == 200, answer.text
    return {i["document"]["kind"]: (i["state"], i["accepted_version"]) for i in answer.json()}


async def audit_actions(database: Database, user_id: uuid.UUID) -> list[str]:
    async with database.sessionmaker() as db:
        found = await db.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.actor_id == user_id, AuditEvent.action.startswith("consent."))
            .order_by(AuditEvent.seq)
        )
        return list(found.all())


class TestDocuments:
    async def test_refused_callers(self, client: httpx.AsyncClient, sign_in: SignIn) -> None:
        body = {"kind": "terms_of_service", "title": "T", "body": "B"}
        assert (await client.get(DOCUMENTS)).status_code == 401
        assert (await client.post(DOCUMENTS, json=body)).status_code == 401
        for role in (Role.patient, Role.doctor, Role.nurse):
            someone = await sign_in(role)
            assert (await client.get(DOCUMENTS, headers=someone.headers)).status_code == 403
            answer = await client.post(DOCUMENTS, json=body, headers=someone.headers)
            assert answer.status_code == 403
        assert (await client.get(MINE)).status_code == 401
        assert (await client.post(ACCEPT, json={"consents": []})).status_code == 401
        assert (await client.delete(f"{ACCEPT}/research_sharing")).status_code == 401
        assert (await client.get(EXTRACT)).status_code == 401
        patient = await sign_in(Role.patient)
        assert (await client.get(EXTRACT, headers=patient.headers)).status_code == 403

    async def test_publishing_numbers_versions_per_kind(
        self, client: httpx.AsyncClient, sign_in: SignIn, database: Database
    ) -> None:
        admin = await sign_in(Role.admin)
        first = await publish(client, admin.headers, "terms_of_service")
        assert first["version"] == 1
        assert first["roles"] == ["patient", "doctor", "nurse", "admin"]
        assert first["required"]
        assert first["requires_reacceptance"]
        second = await publish(client, admin.headers, "terms_of_service")
        assert second["version"] == 2
        assert second["requires_reacceptance"]
        research = await publish(client, admin.headers, "research_sharing")
        assert (research["version"], research["roles"]) == (1, ["patient"])
        assert not research["required"]
        again = await publish(client, admin.headers, "research_sharing")
        assert (again["version"], again["requires_reacceptance"]) == (2, False)

        listed = await client.get(DOCUMENTS, headers=admin.headers, params={"limit": 3})
        assert listed.status_code == 200
        assert [(d["kind"], d["version"]) for d in listed.json()["items"]] == [
            ("research_sharing", 2),
            ("research_sharing", 1),
            ("terms_of_service", 2),
        ]
        assert listed.json()["next_cursor"]
        current = await client.get("/api/v1/consent-documents/current", params={"role": "doctor"})
        assert [(d["kind"], d["version"]) for d in current.json()] == [("terms_of_service", 2)]
        assert await audit_actions(database, admin.user_id) == ["consent.document_published"] * 4

    async def test_bad_documents_are_refused(
        self, client: httpx.AsyncClient, sign_in: SignIn
    ) -> None:
        admin = await sign_in(Role.admin)
        for body in (
            {"kind": "cookies", "title": "T", "body": "B"},
            {"kind": "terms_of_service", "title": " ", "body": "B"},
            {"kind": "terms_of_service", "title": "T", "body": "B", "roles": []},
            {"kind": "terms_of_service", "title": "T", "body": "B", "version": 3},
        ):
            answer = await client.post(DOCUMENTS, json=body, headers=admin.headers)
            assert answer.status_code == 422, body
        doctors = {"kind": "telehealth_consent", "title": "T", "body": "B", "roles": ["doctor"]}
        answer = await client.post(DOCUMENTS, json=doctors, headers=admin.headers)
        assert (answer.status_code, answer.json()["code"]) == (422, "consent_roles_patients_only")


class TestAccepting:
    async def test_nothing_published_nothing_asked(
        self, client: httpx.AsyncClient, sign_in: SignIn
    ) -> None:
        patient = await sign_in(Role.patient)
        assert (await client.get(MINE, headers=patient.headers)).json() == []

    async def test_accept_current_refuse_others(
        self, client: httpx.AsyncClient, sign_in: SignIn, database: Database
    ) -> None:
        admin, patient = await sign_in(Role.admin), await sign_in(Role.patient)
        await publish(client, admin.headers, "terms_of_service")
        await publish(client, admin.headers, "research_sharing")
        assert states(await client.get(MINE, headers=patient.headers)) == {
            "terms_of_service": ("pending", None),
            "research_sharing": ("not_accepted", None),
        }
        wrong = await client.post(
            ACCEPT,
            json={"consents": [{"kind": "terms_of_service", "version": 2}]},
            headers=patient.headers,
        )
        assert (wrong.status_code, wrong.json()["code"]) == (409, "consent_version_not_current")
        unknown = await client.post(
            ACCEPT, json={"consents": [{"kind": "cookies", "version": 1}]}, headers=patient.headers
        )
        assert unknown.status_code == 422

        headers = {**patient.headers, "user-agent": BROWSER}
        accepted = await client.post(
            ACCEPT,
            json={"consents": [{"kind": "terms_of_service", "version": 1}]},
            headers=headers,
        )
        assert states(accepted)["terms_of_service"] == ("accepted", 1)

        await publish(client, admin.headers, "terms_of_service")  # version 2 asks again
        assert states(await client.get(MINE, headers=patient.headers))["terms_of_service"] == (
            "pending",
            1,
        )
        async with database.sessionmaker() as db:
            rows = (
                await db.scalars(
                    select(ConsentEvent).where(ConsentEvent.user_id == patient.user_id)
                )
            ).all()
        assert [(r.kind, r.version, r.action) for r in rows] == [
            ("terms_of_service", 1, "accepted")
        ]
        assert rows[0].user_agent == BROWSER
        assert rows[0].ip
        assert await audit_actions(database, patient.user_id) == ["consent.accepted"]

    async def test_a_doctor_cannot_accept_patients_documents(
        self, client: httpx.AsyncClient, sign_in: SignIn
    ) -> None:
        admin, doctor = await sign_in(Role.admin), await sign_in(Role.doctor)
        await publish(client, admin.headers, "telehealth_consent")
        answer = await client.post(
            ACCEPT,
            json={"consents": [{"kind": "telehealth_consent", "version": 1}]},
            headers=doctor.headers,
        )
        assert (answer.status_code, answer.json()["code"]) == (422, "consent_not_applicable")
        assert (await client.get(MINE, headers=doctor.headers)).json() == []

    async def test_required_cannot_be_withdrawn(
        self, client: httpx.AsyncClient, sign_in: SignIn
    ) -> None:
        admin, patient = await sign_in(Role.admin), await sign_in(Role.patient)
        await publish(client, admin.headers, "privacy_notice")
        choice = {"consents": [{"kind": "privacy_notice", "version": 1}]}
        assert (await client.post(ACCEPT, json=choice, headers=patient.headers)).status_code == 200
        answer = await client.delete(f"{ACCEPT}/privacy_notice", headers=patient.headers)
        assert (answer.status_code, answer.json()["code"]) == (409, "consent_required_use_erasure")
        assert "erase" in answer.json()["detail"]
        nothing = await client.delete(f"{ACCEPT}/research_sharing", headers=patient.headers)
        assert (nothing.status_code, nothing.json()["code"]) == (409, "consent_not_accepted")
        unknown = await client.delete(f"{ACCEPT}/cookies", headers=patient.headers)
        assert unknown.status_code == 422


class TestSignUp:
    def registration(self, **extra: Any) -> dict[str, Any]:
        email = f"new-{uuid.uuid4().hex[:8]}@example.org"
        return {"email": email, "password": PASSWORD, "name": "New Person", **extra}

    async def test_without_documents_nothing_is_asked(self, client: httpx.AsyncClient) -> None:
        answer = await client.post("/api/v1/auth/register", json=self.registration())
        assert answer.status_code == 201, answer.text

    async def test_required_documents_must_be_accepted(
        self, client: httpx.AsyncClient, sign_in: SignIn, database: Database
    ) -> None:
        admin = await sign_in(Role.admin)
        await publish(client, admin.headers, "terms_of_service")
        await publish(client, admin.headers, "telehealth_consent")
        await publish(client, admin.headers, "research_sharing")
        register = "/api/v1/auth/register"
        missing = await client.post(
            register,
            json=self.registration(consents=[{"kind": "terms_of_service", "version": 1}]),
        )
        assert (missing.status_code, missing.json()["code"]) == (422, "consent_required")
        assert "telehealth_consent" in missing.json()["detail"]
        stale = await client.post(
            register,
            json=self.registration(
                consents=[
                    {"kind": "terms_of_service", "version": 7},
                    {"kind": "telehealth_consent", "version": 1},
                ]
            ),
        )
        assert stale.status_code == 422  # version 1 of the terms is still missing
        unknown = await client.post(
            register, json=self.registration(consents=[{"kind": "cookies", "version": 1}])
        )
        assert (unknown.status_code, unknown.json()["code"]) == (422, "unknown_consent_kind")

        body = self.registration(
            consents=[
                {"kind": "terms_of_service", "version": 1},
                {"kind": "telehealth_consent", "version": 1},
            ]
        )
        created = await client.post(register, json=body, headers={"user-agent": BROWSER})
        assert created.status_code == 201, created.text
        async with database.sessionmaker() as db:
            user = await db.scalar(select(User).where(User.email == body["email"]))
            assert user is not None
            rows = (
                await db.scalars(select(ConsentEvent).where(ConsentEvent.user_id == user.id))
            ).all()
        assert sorted((r.kind, r.action, r.user_agent) for r in rows) == [
            ("telehealth_consent", "accepted", BROWSER),
            ("terms_of_service", "accepted", BROWSER),
        ]
        # A doctor is asked only for what applies to doctors.
        doctor = self.registration(
            role="doctor", consents=[{"kind": "terms_of_service", "version": 1}]
        )
        assert (await client.post(register, json=doctor)).status_code == 201


class TestResearchSharing:
    async def test_withdrawal_takes_effect_on_the_next_request(
        self, client: httpx.AsyncClient, sign_in: SignIn, database: Database
    ) -> None:
        admin, patient, other = (
            await sign_in(Role.admin),
            await sign_in(Role.patient),
            await sign_in(Role.patient),
        )
        await publish(client, admin.headers, "research_sharing")
        await add_observation(client, patient.headers, kind="heart_rate", value=71)
        await add_observation(client, other.headers, kind="heart_rate", value=88)

        async def extract() -> list[dict[str, Any]]:
            answer = await client.get(EXTRACT, headers=admin.headers)
            assert answer.status_code == 200, answer.text
            items: list[dict[str, Any]] = answer.json()["items"]
            return items

        assert await extract() == []
        accepted = await client.post(
            ACCEPT,
            json={"consents": [{"kind": "research_sharing", "version": 1}]},
            headers=patient.headers,
        )
        assert accepted.status_code == 200
        rows = await extract()
        assert [(r["kind"], r["value"], r["unit"]) for r in rows] == [("heart_rate", 71, "/min")]
        row = rows[0]
        assert set(row) == {"pseudonym", "kind", "value", "value2", "unit", "day"}
        assert str(patient.user_id) not in row["pseudonym"]
        assert len(row["pseudonym"]) > 32
        assert "T" not in row["day"]

        withdrawn = await client.delete(f"{ACCEPT}/research_sharing", headers=patient.headers)
        assert withdrawn.status_code == 200
        assert withdrawn.json()["state"] == "withdrawn"
        assert await extract() == []
        assert await audit_actions(database, patient.user_id) == [
            "consent.accepted",
            "consent.withdrawn",
        ]
        async with database.sessionmaker() as db:
            reads = await db.scalars(
                select(AuditEvent).where(AuditEvent.action == "research.extract_read")
            )
            assert [e.details["rows"] for e in reads.all()] == [0, 1, 0]


class TestAnswersAreWrittenOnce:
    async def test_an_answer_cannot_be_changed(
        self, client: httpx.AsyncClient, sign_in: SignIn, database: Database
    ) -> None:
        admin, patient = await sign_in(Role.admin), await sign_in(Role.patient)
        await publish(client, admin.headers, "terms_of_service")
        choice = {"consents": [{"kind": "terms_of_service", "version": 1}]}
        assert (await client.post(ACCEPT, json=choice, headers=patient.headers)).status_code == 200
        with pytest.raises(DBAPIError, match="written once"):
            async with database.transaction() as db:
                await db.execute(
                    update(ConsentEvent)
                    .where(ConsentEvent.user_id == patient.user_id)
                    .values(ip="10.9.9.9")
                )
