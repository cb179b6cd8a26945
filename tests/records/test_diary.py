"""The symptom diary, allergies, conditions and immunizations: who may call, each section's
create/list/update/delete, sealed notes, the symptom catalog, bad input refused with nothing
written, and clinicians' audited reads (a grant covers only its sections)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from carebridge.accounts.models import Role
from carebridge.platform.db import Database
from carebridge.records.models import Allergy, Condition, Immunization, Symptom
from tests.factories.prescriptions import MakeConsultation
from tests.factories.records import RECORD_CANARY
from tests.factories.records_diary import (
    BY_SECTION,
    CASE_IDS,
    CASES,
    DiaryCase,
    add_entry,
    count,
    grant,
    sealed_notes,
)
from tests.factories.users import Person

MakePerson = Callable[..., Awaitable[Person]]
API = "/api/v1"
TOMORROW = (datetime.now(UTC).date() + timedelta(days=2)).isoformat()


class TestCallers:
    @pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
    async def test_refused_callers(
        self, case: DiaryCase, client: httpx.AsyncClient, person: MakePerson
    ) -> None:
        owner, other = await person(), await person()
        doctor, admin = await person(Role.doctor), await person(Role.admin)
        path = f"{API}/records/{case.section}"
        assert (await client.get(path)).status_code == 401
        assert (await client.post(path, json=case.body)).status_code == 401
        answer = await client.get(path, headers=doctor.headers)
        assert (answer.status_code, answer.json()["code"]) == (403, "wrong_role")
        entry = await add_entry(client, owner.headers, case.section)
        entry_path = f"{path}/{entry['id']}"
        assert (await client.patch(entry_path, json=case.patch)).status_code == 401
        for caller in (other, doctor):
            patched = await client.patch(entry_path, json=case.patch, headers=caller.headers)
            deleted = await client.delete(entry_path, headers=caller.headers)
            assert patched.status_code == deleted.status_code == (404 if caller is other else 403)
        assert (await client.get(path, headers=other.headers)).json()["items"] == []
        reading = f"{API}/patients/{owner.user.id}/records/{case.section}"
        assert (await client.get(reading, headers=doctor.headers)).status_code == 404
        assert (await client.get(reading, headers=admin.headers)).status_code == 403
        assert (await client.get(reading, headers=other.headers)).status_code == 403
        assert RECORD_CANARY not in (await client.get(path, headers=other.headers)).text

    async def test_the_catalog_wants_a_signed_in_user(
        self, client: httpx.AsyncClient, person: MakePerson
    ) -> None:
        assert (await client.get(f"{API}/records/symptom-catalog")).status_code == 401
        doctor = await person(Role.doctor)
        found = await client.get(f"{API}/records/symptom-catalog?q=head", headers=doctor.headers)
        assert found.status_code == 200


class TestEachSection:
    @pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
    async def test_create_list_update_delete(
        self, case: DiaryCase, client: httpx.AsyncClient, person: MakePerson, database: Database
    ) -> None:
        patient = await person()
        path = f"{API}/records/{case.section}"
        made = await add_entry(client, patient.headers, case.section)
        assert made["patient_id"] == str(patient.user.id)
        assert made["recorded_by_id"] == str(patient.user.id)
        assert made["note"] == case.body["note"]
        listed = (await client.get(path, headers=patient.headers)).json()
        assert [item["id"] for item in listed["items"]] == [made["id"]]
        changed = await client.patch(
            f"{path}/{made['id']}", json=case.patch, headers=patient.headers
        )
        assert changed.status_code == 200, changed.text
        assert {key: changed.json()[key] for key in case.changed} == case.changed
        deleted = await client.delete(f"{path}/{made['id']}", headers=patient.headers)
        assert deleted.status_code == 204
        assert await count(database, case.model, patient.user.id) == 0
        again = await client.delete(f"{path}/{made['id']}", headers=patient.headers)
        assert again.status_code == 404

    @pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
    async def test_the_note_is_ciphertext_in_the_table(
        self, case: DiaryCase, client: httpx.AsyncClient, person: MakePerson, database: Database
    ) -> None:
        patient = await person()
        await add_entry(client, patient.headers, case.section)
        (stored,) = await sealed_notes(database, case.table, patient.user.id)
        assert RECORD_CANARY.encode() not in stored

    async def test_lists_are_newest_first_page_by_page(
        self, client: httpx.AsyncClient, person: MakePerson
    ) -> None:
        patient = await person()
        now = datetime.now(UTC)
        made = [
            await add_entry(
                client, patient.headers, "symptoms", onset_at=(now - timedelta(hours=h)).isoformat()
            )
            for h in (5, 1, 3)
        ]
        path = f"{API}/records/symptoms?limit=2"
        first = (await client.get(path, headers=patient.headers)).json()
        assert [i["id"] for i in first["items"]] == [made[1]["id"], made[2]["id"]]
        rest = await client.get(f"{path}&cursor={first['next_cursor']}", headers=patient.headers)
        assert [i["id"] for i in rest.json()["items"]] == [made[0]["id"]]
        assert rest.json()["next_cursor"] is None


class TestSymptomCatalog:
    @pytest.mark.parametrize(
        ("written", "code", "label"),
        [
            ("head ache", "headache", "Headache"),
            ("  MIGRAINE ", "headache", "Headache"),
            ("Vértigo", "dizziness", "Dizziness"),
            ("stomach-ache", "abdominal_pain", "Abdominal pain"),
        ],
    )
    async def test_a_synonym_is_stored_as_the_catalog_symptom(
        self, written: str, code: str, label: str, client: httpx.AsyncClient, person: MakePerson
    ) -> None:
        patient = await person()
        made = await add_entry(client, patient.headers, "symptoms", name=written)
        assert (made["code"], made["name"]) == (code, label)

    async def test_free_text_is_kept_without_a_code(
        self, client: httpx.AsyncClient, person: MakePerson
    ) -> None:
        patient = await person()
        made = await add_entry(client, patient.headers, "symptoms", name="Clicking jaw")
        assert (made["code"], made["name"]) == (None, "Clicking jaw")
        changed = await client.patch(
            f"{API}/records/symptoms/{made['id']}", json={"name": "dizzy"}, headers=patient.headers
        )
        assert (changed.json()["code"], changed.json()["name"]) == ("dizziness", "Dizziness")

    async def test_lookup_by_label_or_synonym(
        self, client: httpx.AsyncClient, person: MakePerson
    ) -> None:
        patient = await person()

        async def codes(query: str) -> list[str]:
            answer = await client.get(
                f"{API}/records/symptom-catalog", params={"q": query}, headers=patient.headers
            )
            assert answer.status_code == 200
            return [item["code"] for item in answer.json()]

        assert (await codes("migr")) == ["headache"]
        assert (await codes("HEAD"))[0] == "headache"
        assert "fever" in await codes("pyrexia")
        assert (await codes("zzz-nothing")) == []
        assert len(await codes("")) == 20


class TestBadInput:
    @pytest.mark.parametrize(
        ("section", "overrides", "code"),
        [
            ("symptoms", {"severity": 11}, "validation_error"),
            ("symptoms", {"name": "   "}, "validation_error"),
            (
                "symptoms",
                {"onset_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat()},
                "onset_in_future",
            ),
            ("symptoms", {"duration_minutes": -1}, "validation_error"),
            ("allergies", {"severity": "deadly"}, "validation_error"),
            ("allergies", {"noted_on": TOMORROW}, "noted_in_future"),
            ("conditions", {"status": "cured"}, "validation_error"),
            (
                "conditions",
                {"resolved_on": datetime.now(UTC).date().isoformat()},
                "resolved_while_ongoing",
            ),
            (
                "conditions",
                {"status": "resolved", "onset_on": "2024-05-02", "resolved_on": "2024-05-01"},
                "resolved_before_onset",
            ),
            ("immunizations", {"given_on": TOMORROW}, "given_in_future"),
            ("immunizations", {"dose_number": 0}, "validation_error"),
            ("immunizations", {"owner": "someone"}, "validation_error"),
        ],
    )
    async def test_refused_and_nothing_written(
        self,
        section: str,
        overrides: dict[str, object],
        code: str,
        client: httpx.AsyncClient,
        person: MakePerson,
        database: Database,
    ) -> None:
        patient = await person()
        body = {**BY_SECTION[section].body, **overrides}
        answer = await client.post(f"{API}/records/{section}", json=body, headers=patient.headers)
        assert answer.status_code == 422, answer.text
        assert answer.json()["code"] == code
        assert await count(database, BY_SECTION[section].model, patient.user.id) == 0

    @pytest.mark.parametrize(
        ("section", "patch", "code"),
        [
            ("symptoms", {"severity": None}, "required_field"),
            ("allergies", {"substance": None}, "required_field"),
            ("conditions", {"resolved_on": "2000-01-01"}, "resolved_before_onset"),
            ("immunizations", {"given_on": None}, "required_field"),
        ],
    )
    async def test_a_bad_change_leaves_the_entry_as_it_was(
        self,
        section: str,
        patch: dict[str, object],
        code: str,
        client: httpx.AsyncClient,
        person: MakePerson,
    ) -> None:
        patient = await person()
        made = await add_entry(client, patient.headers, section, status="resolved") if (
            section == "conditions"
        ) else await add_entry(client, patient.headers, section)  # fmt: skip
        path = f"{API}/records/{section}/{made['id']}"
        answer = await client.patch(path, json=patch, headers=patient.headers)
        assert (answer.status_code, answer.json()["code"]) == (422, code)
        listed = (await client.get(f"{API}/records/{section}", headers=patient.headers)).json()
        assert listed["items"] == [made]

    async def test_the_same_allergy_twice_is_a_conflict(
        self, client: httpx.AsyncClient, person: MakePerson, database: Database
    ) -> None:
        patient = await person()
        first = await add_entry(client, patient.headers, "allergies")
        again = await client.post(
            f"{API}/records/allergies",
            json={"substance": "  PENICILLIN "},
            headers=patient.headers,
        )
        assert again.status_code == 409
        assert again.json()["code"] == "allergy_exists"
        assert again.json()["existing_id"] == first["id"]
        other = await add_entry(client, patient.headers, "allergies", substance="Latex")
        renamed = await client.patch(
            f"{API}/records/allergies/{other['id']}",
            json={"substance": "penicillin"},
            headers=patient.headers,
        )
        assert renamed.status_code == 409
        assert await count(database, Allergy, patient.user.id) == 2


class TestClinicians:
    async def test_a_doctors_read_is_audited_and_in_the_access_log(
        self, client: httpx.AsyncClient, consultation: MakeConsultation
    ) -> None:
        visit = await consultation("completed")
        for case in CASES:
            await add_entry(client, visit.patient.headers, case.section)
        for case in CASES:
            answer = await client.get(
                f"{API}/patients/{visit.patient.user.id}/records/{case.section}",
                headers=visit.doctor.headers,
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["items"][0]["note"] == case.body["note"]
        log = await client.get(f"{API}/records/access-log", headers=visit.patient.headers)
        reads = [
            (e["action"], e["section"], e["basis"], e["actor_id"]) for e in log.json()["items"]
        ]
        doctor = str(visit.doctor.user.id)
        assert sorted(reads) == sorted(("read", case.section, "care", doctor) for case in CASES)

    async def test_a_grant_for_allergies_shows_allergies_only(
        self, client: httpx.AsyncClient, person: MakePerson
    ) -> None:
        patient, nurse = await person(), await person(Role.nurse)
        for case in CASES:
            await add_entry(client, patient.headers, case.section)
        await grant(client, patient.headers, nurse.user.id, ["allergies"])
        base = f"{API}/patients/{patient.user.id}/records"
        allowed = await client.get(f"{base}/allergies", headers=nurse.headers)
        assert allowed.status_code == 200
        assert [a["substance"] for a in allowed.json()["items"]] == ["Penicillin"]
        for section in ("symptoms", "conditions", "immunizations"):
            refused = await client.get(f"{base}/{section}", headers=nurse.headers)
            assert refused.status_code == 404
            assert RECORD_CANARY not in refused.text


async def test_rows_belong_to_their_patient(
    client: httpx.AsyncClient, person: MakePerson, database: Database
) -> None:
    """Client input never sets the owner: a body naming another patient is refused."""
    patient, other = await person(), await person()
    answer = await client.post(
        f"{API}/records/symptoms",
        json={**BY_SECTION["symptoms"].body, "patient_id": str(other.user.id)},
        headers=patient.headers,
    )
    assert answer.status_code == 422
    for model in (Symptom, Allergy, Condition, Immunization):
        assert await count(database, model, other.user.id) == 0
    assert uuid.UUID(str(patient.user.id))
