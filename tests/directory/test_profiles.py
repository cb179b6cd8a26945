"""Profiles of doctors, nurses and patients: who may read and write them, validation, search
vector upkeep, encryption and privacy of the patient's."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import select, text

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import Role, UserStatus
from carebridge.compliance.models import AuditEvent
from carebridge.config import Settings
from carebridge.directory import patients
from carebridge.platform.context import CallScope
from carebridge.platform.db import Database
from carebridge.platform.errors import NotFound
from tests.factories import SignIn
from tests.factories.directory import DOCTOR, GOOD_DOCTOR, tag

NURSE = "/api/v1/nurses/me/profile"
PATIENT = "/api/v1/patients/me/profile"


async def refused(client: httpx.AsyncClient, sign_in: SignIn, url: str, allowed: Role) -> None:
    assert (await client.get(url)).status_code == 401
    assert (await client.put(url, json={})).status_code == 401
    for role in set(Role) - {allowed}:
        other = await sign_in(role)
        response = await client.get(url, headers=other.headers)
        assert response.status_code == 403, (role, response.text)
        assert response.json()["code"] == "wrong_role"


class TestDoctorProfile:
    async def test_refused_callers(self, client: httpx.AsyncClient, sign_in: SignIn) -> None:
        await refused(client, sign_in, DOCTOR, Role.doctor)

    async def test_a_doctor_waiting_for_approval_fills_in_the_profile(
        self, client: httpx.AsyncClient, sign_in: SignIn
    ) -> None:
        doctor = await sign_in(Role.doctor, UserStatus.pending)
        empty = await client.get(DOCTOR, headers=doctor.headers)
        assert empty.status_code == 200
        assert (empty.json()["specialties"], empty.json()["listed"]) == ([], False)
        saved = await client.put(DOCTOR, json=GOOD_DOCTOR, headers=doctor.headers)
        assert saved.status_code == 200, saved.text
        body = saved.json()
        assert [s["slug"] for s in body["specialties"]] == ["cardiology", "internal-medicine"]
        assert (body["languages"], body["currency"]) == (["en", "es"], "EUR")
        assert (body["verified_at"], body["listed"], body["rating_count"]) == (None, False, 0)
        again = await client.get(DOCTOR, headers=doctor.headers)
        assert again.json() == body
        fewer = await client.put(
            DOCTOR, json={**GOOD_DOCTOR, "specialties": ["pediatrics"]}, headers=doctor.headers
        )
        assert [s["slug"] for s in fewer.json()["specialties"]] == ["pediatrics"]

    @pytest.mark.parametrize(
        "field", ["verified_at", "rating_average", "rating_count", "user_id", "id"]
    )
    async def test_a_client_cannot_set_verification_ratings_or_owner(
        self, client: httpx.AsyncClient, sign_in: SignIn, field: str
    ) -> None:
        doctor = await sign_in(Role.doctor)
        value: object = "2020-01-01T00:00:00Z" if field == "verified_at" else 5
        if field in ("user_id", "id"):
            value = str(uuid.uuid4())
        response = await client.put(
            DOCTOR, json={**GOOD_DOCTOR, field: value}, headers=doctor.headers
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == f"body.{field}"
        profile = (await client.get(DOCTOR, headers=doctor.headers)).json()
        assert (profile["verified_at"], profile["rating_average"]) == (None, None)

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"time_zone": "Mars/Olympus"}, "body.time_zone"),
            ({"currency": "EURO"}, "body.currency"),
            ({"currency": "XYZ"}, "body.currency"),
            ({"languages": ["english"]}, "body.languages"),
            ({"photo_url": "http://cdn.clinic.example/a.jpg"}, "body.photo_url"),
            ({"photo_url": "javascript:alert(1)"}, "body.photo_url"),
            ({"consultation_fee": -5}, "body.consultation_fee"),
            ({"years_of_experience": 120}, "body.years_of_experience"),
            ({"specialties": ["Not A Slug"]}, "body.specialties"),
        ],
    )
    async def test_bad_fields_answer_422(
        self, client: httpx.AsyncClient, sign_in: SignIn, change: dict[str, object], field: str
    ) -> None:
        doctor = await sign_in(Role.doctor)
        response = await client.put(DOCTOR, json={**GOOD_DOCTOR, **change}, headers=doctor.headers)
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "validation_error"
        assert response.json()["errors"][0]["field"] == field

    async def test_unknown_specialties_are_named(
        self, client: httpx.AsyncClient, sign_in: SignIn
    ) -> None:
        doctor = await sign_in(Role.doctor)
        response = await client.put(
            DOCTOR,
            json={**GOOD_DOCTOR, "specialties": ["cardiology", "astrology"]},
            headers=doctor.headers,
        )
        assert response.status_code == 422
        assert (response.json()["code"], response.json()["unknown"]) == (
            "unknown_specialty",
            ["astrology"],
        )

    async def test_search_follows_profile_and_name_changes(
        self, client: httpx.AsyncClient, sign_in: SignIn
    ) -> None:
        admin = await sign_in(Role.admin)
        doctor = await sign_in(Role.doctor)
        word, renamed = tag(), tag()
        await client.put(DOCTOR, json={**GOOD_DOCTOR, "bio": word}, headers=doctor.headers)
        await client.post(f"/api/v1/admin/doctors/{doctor.user_id}/verify", headers=admin.headers)
        found = (await client.get("/api/v1/doctors", params={"q": word})).json()["items"]
        assert [i["id"] for i in found] == [str(doctor.user_id)]
        await client.patch("/api/v1/me", json={"name": f"Dr. {renamed}"}, headers=doctor.headers)
        await client.put(DOCTOR, json={**GOOD_DOCTOR, "bio": "other"}, headers=doctor.headers)
        assert (await client.get("/api/v1/doctors", params={"q": word})).json()["items"] == []
        by_name = (await client.get("/api/v1/doctors", params={"q": renamed})).json()["items"]
        assert [i["name"] for i in by_name] == [f"Dr. {renamed}"]

    async def test_a_new_license_number_needs_verifying_again(
        self, client: httpx.AsyncClient, sign_in: SignIn
    ) -> None:
        admin = await sign_in(Role.admin)
        doctor = await sign_in(Role.doctor)
        await client.put(DOCTOR, json=GOOD_DOCTOR, headers=doctor.headers)
        await client.post(f"/api/v1/admin/doctors/{doctor.user_id}/verify", headers=admin.headers)
        same = await client.put(
            DOCTOR, json={**GOOD_DOCTOR, "bio": "New bio"}, headers=doctor.headers
        )
        assert same.json()["listed"] is True
        changed = await client.put(
            DOCTOR, json={**GOOD_DOCTOR, "license_number": "DE-99999"}, headers=doctor.headers
        )
        assert (changed.json()["verified_at"], changed.json()["listed"]) == (None, False)
        assert (await client.get(f"/api/v1/doctors/{doctor.user_id}")).status_code == 404


class TestNurseProfile:
    async def test_refused_callers(self, client: httpx.AsyncClient, sign_in: SignIn) -> None:
        await refused(client, sign_in, NURSE, Role.nurse)

    async def test_round_trip_and_validation(
        self, client: httpx.AsyncClient, sign_in: SignIn
    ) -> None:
        nurse = await sign_in(Role.nurse, UserStatus.pending)
        body = {
            "bio": "Home visits, wound care.",
            "languages": ["en", "yo"],
            "years_of_experience": 7,
            "license_number": "RN-77",
            "service_area": "Berlin Mitte and Kreuzberg",
            "time_zone": "Europe/Berlin",
        }
        saved = await client.put(NURSE, json=body, headers=nurse.headers)
        assert saved.status_code == 200, saved.text
        assert saved.json() == {**body, "user_id": str(nurse.user_id)}
        assert (await client.get(NURSE, headers=nurse.headers)).json() == saved.json()
        bad = await client.put(NURSE, json={**body, "time_zone": "Nowhere"}, headers=nurse.headers)
        assert bad.status_code == 422


GOOD_PATIENT = {
    "date_of_birth": "1984-02-29",
    "sex": "female",
    "phone": "+4915123456789",
    "emergency_contact": {"name": "Sam Jordan", "phone": "+14155550123"},
    "address": "12 Elm Street, Springfield",
}


class TestPatientProfile:
    async def test_refused_callers(self, client: httpx.AsyncClient, sign_in: SignIn) -> None:
        await refused(client, sign_in, PATIENT, Role.patient)

    async def test_round_trip_encrypted_at_rest_and_audited(
        self, client: httpx.AsyncClient, sign_in: SignIn, database: Database
    ) -> None:
        patient = await sign_in(Role.patient)
        empty = await client.get(PATIENT, headers=patient.headers)
        assert empty.status_code == 200
        assert empty.json()["date_of_birth"] is None
        saved = await client.put(PATIENT, json=GOOD_PATIENT, headers=patient.headers)
        assert saved.status_code == 200, saved.text
        read = await client.get(PATIENT, headers=patient.headers)
        assert {k: read.json()[k] for k in GOOD_PATIENT} == GOOD_PATIENT
        me = await client.get("/api/v1/me", headers=patient.headers)
        assert me.json()["phone"] == "+4915123456789"  # one phone number: the account's

        async with database.sessionmaker() as db:
            raw = (
                await db.execute(
                    text("SELECT * FROM patient_profiles WHERE user_id = :id"),
                    {"id": patient.user_id},
                )
            ).one()
            stored = repr(tuple(raw))
            for secret in ("1984-02-29", "Elm Street", "Sam Jordan", "+14155550123"):
                assert secret not in stored
            actions = (
                await db.scalars(
                    select(AuditEvent.action)
                    .where(AuditEvent.resource_id == str(patient.user_id))
                    .where(AuditEvent.resource_type == "patient_profile")
                    .order_by(AuditEvent.at)
                )
            ).all()
        assert list(actions) == [
            "patient_profile.read",
            "patient_profile.updated",
            "patient_profile.read",
        ]

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"phone": "12345"}, "body.phone"),
            ({"phone": "+1 555 000"}, "body.phone"),
            ({"emergency_contact": {"name": "X", "phone": "call me"}}, "body.emergency_contact"),
            ({"date_of_birth": "2999-01-01"}, "body.date_of_birth"),
            ({"sex": "robot"}, "body.sex"),
            ({"blood_type": "0+"}, "body.blood_type"),
        ],
    )
    async def test_bad_fields_answer_422(
        self, client: httpx.AsyncClient, sign_in: SignIn, change: dict[str, object], field: str
    ) -> None:
        patient = await sign_in(Role.patient)
        response = await client.put(
            PATIENT, json={**GOOD_PATIENT, **change}, headers=patient.headers
        )
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"].startswith(field)

    async def test_no_one_else_reads_a_patient_profile(
        self,
        client: httpx.AsyncClient,
        sign_in: SignIn,
        database: Database,
        settings: Settings,
    ) -> None:
        patient = await sign_in(Role.patient)
        await client.put(PATIENT, json=GOOD_PATIENT, headers=patient.headers)
        scope = CallScope.system(settings)
        for role in Role:
            other = await sign_in(role)
            actor = Actor(
                id=other.user_id, role=role, status=UserStatus.active, session_id=uuid.uuid4()
            )
            async with database.sessionmaker() as db:
                with pytest.raises(NotFound):
                    await patients.get_patient_profile(db, scope, actor, patient.user_id)
            # and over HTTP the route only ever answers the caller's own profile
            own = await client.get(PATIENT, headers=other.headers)
            if role == Role.patient:
                assert own.json()["address"] is None
            else:
                assert own.status_code == 403
