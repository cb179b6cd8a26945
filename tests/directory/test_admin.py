"""The verification queue and verifying a doctor."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import select

from carebridge.accounts.models import Role, UserStatus
from carebridge.compliance.models import AuditEvent
from carebridge.platform.db import Database
from tests.factories import SignIn
from tests.factories.directory import DOCTOR, GOOD_DOCTOR, MakeDoctor, tag

QUEUE = "/api/v1/admin/doctors"


def verify_url(doctor_id: uuid.UUID) -> str:
    return f"/api/v1/admin/doctors/{doctor_id}/verify"


class TestQueue:
    async def test_refused_callers(self, client: httpx.AsyncClient, sign_in: SignIn) -> None:
        assert (await client.get(QUEUE)).status_code == 401
        assert (await client.post(verify_url(uuid.uuid4()))).status_code == 401
        for role in (Role.patient, Role.doctor, Role.nurse):
            other = await sign_in(role)
            assert (await client.get(QUEUE, headers=other.headers)).status_code == 403
            response = await client.post(verify_url(other.user_id), headers=other.headers)
            assert response.status_code == 403

    async def test_the_queue_holds_doctors_to_verify(
        self, client: httpx.AsyncClient, sign_in: SignIn, make_doctor: MakeDoctor
    ) -> None:
        admin = await sign_in(Role.admin)
        waiting = await make_doctor(verified=False)
        no_profile = await sign_in(Role.doctor, UserStatus.pending)
        verified = await make_doctor()
        queue = (
            await client.get(
                QUEUE, params={"verified": "false", "limit": 50}, headers=admin.headers
            )
        ).json()
        ids = {item["id"] for item in queue["items"]}
        assert {str(waiting.id), str(no_profile.user_id)} <= ids
        assert str(verified.id) not in ids
        entry = next(i for i in queue["items"] if i["id"] == str(no_profile.user_id))
        assert (entry["has_profile"], entry["account_status"]) == (False, "pending")
        done = (
            await client.get(QUEUE, params={"verified": "true", "limit": 50}, headers=admin.headers)
        ).json()
        assert str(verified.id) in {item["id"] for item in done["items"]}
        bad = await client.get(QUEUE, params={"cursor": "nope"}, headers=admin.headers)
        assert (bad.status_code, bad.json()["code"]) == (422, "bad_cursor")


class TestVerify:
    async def test_verifying_lists_the_doctor_approves_the_account_and_is_audited(
        self, client: httpx.AsyncClient, sign_in: SignIn, database: Database
    ) -> None:
        admin = await sign_in(Role.admin)
        doctor = await sign_in(Role.doctor, UserStatus.pending)
        word = tag()
        await client.put(DOCTOR, json={**GOOD_DOCTOR, "bio": word}, headers=doctor.headers)
        assert (await client.get(f"/api/v1/doctors/{doctor.user_id}")).status_code == 404

        response = await client.post(
            verify_url(doctor.user_id), headers={**admin.headers, "X-Request-ID": "verify-1"}
        )
        assert response.status_code == 200, response.text
        assert response.json()["verified_at"] is not None
        assert response.json()["account_status"] == "active"
        assert (await client.get(f"/api/v1/doctors/{doctor.user_id}")).status_code == 200
        listed = (await client.get("/api/v1/doctors", params={"q": word})).json()["items"]
        assert [i["id"] for i in listed] == [str(doctor.user_id)]
        me = (await client.get(DOCTOR, headers=doctor.headers)).json()
        assert me["listed"] is True

        again = await client.post(verify_url(doctor.user_id), headers=admin.headers)
        assert again.json()["verified_at"] == response.json()["verified_at"]
        async with database.sessionmaker() as db:
            rows = (
                await db.scalars(
                    select(AuditEvent)
                    .where(AuditEvent.resource_id == str(doctor.user_id))
                    .where(
                        AuditEvent.action.in_(["admin.doctor_verified", "admin.clinician_approved"])
                    )
                    .order_by(AuditEvent.at)
                )
            ).all()
        assert [(r.action, r.actor_id, r.request_id) for r in rows] == [
            ("admin.clinician_approved", admin.user_id, "verify-1"),
            ("admin.doctor_verified", admin.user_id, "verify-1"),
        ]

    async def test_what_cannot_be_verified(
        self, client: httpx.AsyncClient, sign_in: SignIn, make_doctor: MakeDoctor
    ) -> None:
        admin = await sign_in(Role.admin)
        patient = await sign_in(Role.patient)
        for target in (uuid.uuid4(), patient.user_id):
            response = await client.post(verify_url(target), headers=admin.headers)
            assert response.status_code == 404
        no_license = await make_doctor(verified=False, license_number=None)
        response = await client.post(verify_url(no_license.id), headers=admin.headers)
        assert (response.status_code, response.json()["code"]) == (409, "profile_incomplete")
        no_profile = await sign_in(Role.doctor, UserStatus.pending)
        response = await client.post(verify_url(no_profile.user_id), headers=admin.headers)
        assert response.json()["code"] == "profile_incomplete"
        disabled = await make_doctor(verified=False, status=UserStatus.disabled)
        response = await client.post(verify_url(disabled.id), headers=admin.headers)
        assert (response.status_code, response.json()["code"]) == (409, "user_disabled")
