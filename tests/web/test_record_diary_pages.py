"""The record's diary and documents pages: symptoms, allergies, conditions, immunizations and
documents, each with its add form; a doctor's read-only view of the sections the service lets
them read. Refused first: a visitor is sent to sign in, another patient's entries are not shown,
a doctor without access gets the 404 page."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select

from carebridge.accounts.models import Role
from carebridge.compliance.models import AuditEvent
from carebridge.platform.db import Database
from carebridge.records.models import Allergy, Condition, RecordDocument
from tests.factories.prescriptions import MakeConsultation
from tests.factories.records import RECORD_CANARY
from tests.factories.records_diary import add_entry, count, grant, upload
from tests.factories.users import MakeUser, Person
from tests.factories.web import Browser, csrf

MakePerson = Callable[..., Awaitable[Person]]
SECTIONS = ("symptoms", "allergies", "conditions", "immunizations", "documents")
YESTERDAY = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
# What each add form posts, and a word of it the page then shows.
FORMS = {
    "symptoms": ({"name": "mal de tete", "severity": "7", "duration_minutes": "45"}, "Headache"),
    "allergies": ({"substance": "Peanuts", "reaction": "Hives", "severity": "severe"}, "Peanuts"),
    "conditions": ({"name": "Migraine", "status": "active", "onset_on": YESTERDAY}, "Migraine"),
    "immunizations": ({"vaccine": "Measles", "given_on": YESTERDAY, "dose_number": "1"}, "Measles"),
}  # fmt: skip


async def _audit_reads(database: Database, actor_id: uuid.UUID) -> int:
    async with database.transaction() as db:
        found = await db.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.actor_id == actor_id, AuditEvent.action == "record.read")
        )
    return int(found or 0)


class TestRefused:
    async def test_a_visitor_is_sent_to_sign_in(self, client: httpx.AsyncClient) -> None:
        for section in SECTIONS:
            for path in (f"/records/{section}", f"/patients/{uuid.uuid4()}/record/{section}"):
                answer = await client.get(path)
                assert answer.status_code == 303, path
                assert answer.headers["location"].startswith("/signin"), path

    async def test_another_patients_entries_are_not_shown(
        self, browser: Browser, make_user: MakeUser, client: httpx.AsyncClient, person: MakePerson
    ) -> None:
        owner = await person(Role.patient)
        for section in FORMS:
            await add_entry(client, owner.headers, section)
        await upload(client, owner.headers, ("letter.txt", RECORD_CANARY.encode(), "text/plain"))
        someone = await browser(await make_user(Role.patient))
        for section in SECTIONS:
            page = await someone.get(f"/records/{section}")
            assert page.status_code == 200, section
            assert RECORD_CANARY not in page.text, section
            assert "Blood count" not in page.text
            theirs = await someone.get(f"/patients/{owner.user.id}/record/{section}")
            assert theirs.status_code == 404, section
            assert RECORD_CANARY not in theirs.text

    async def test_a_doctor_without_access_gets_the_404_page(
        self,
        browser: Browser,
        make_user: MakeUser,
        consultation: MakeConsultation,
        client: httpx.AsyncClient,
    ) -> None:
        owner = (await consultation("completed")).patient
        await add_entry(client, owner.headers, "allergies")
        stranger = await browser(await make_user(Role.doctor))
        for section in SECTIONS:
            page = await stranger.get(f"/patients/{owner.user.id}/record/{section}")
            assert page.status_code == 404, section
            assert "Penicillin" not in page.text
            assert 'id="break-glass-form"' in page.text

    async def test_a_doctor_or_patient_cannot_delete_someone_elses_entries(
        self,
        browser: Browser,
        make_user: MakeUser,
        client: httpx.AsyncClient,
        person: MakePerson,
        database: Database,
    ) -> None:
        owner = await person(Role.patient)
        condition = await add_entry(client, owner.headers, "conditions")
        symptom = await add_entry(client, owner.headers, "symptoms")
        document = await upload(client, owner.headers, ("a.txt", b"hello", "text/plain"))
        document_id = document.json()["id"]
        someone = await browser(await make_user(Role.patient))
        token = csrf(await someone.get("/records/symptoms"))
        for path, data in (
            (f"/records/symptoms/{symptom['id']}/delete", {}),
            (f"/records/conditions/{condition['id']}/status", {"status": "resolved"}),
            (f"/records/documents/{document_id}/delete", {}),
        ):
            answer = await someone.post(path, data={"csrf_token": token, **data})
            assert answer.status_code == 404, path
        download = await someone.get(f"/records/documents/{document_id}/file")
        assert download.status_code == 404
        assert b"hello" not in download.content
        assert await count(database, RecordDocument, owner.user.id) == 1
        async with database.transaction() as db:
            status = await db.scalar(
                select(Condition.status).where(Condition.id == uuid.UUID(condition["id"]))
            )
        assert status == "active"


class TestThePatient:
    @pytest.mark.parametrize("section", list(FORMS))
    async def test_adding_to_a_section_shows_it(
        self, browser: Browser, make_user: MakeUser, section: str
    ) -> None:
        me = await browser(await make_user(Role.patient))
        page = await me.get(f"/records/{section}")
        assert page.status_code == 200
        assert 'id="entry-form"' in page.text
        assert f'id="record-nav-{section}"' in page.text
        fields, shown = FORMS[section]
        note = f"typed {RECORD_CANARY}"
        added = await me.post(
            f"/records/{section}", data={"csrf_token": csrf(page), **fields, "note": note}
        )
        assert added.status_code == 303, added.text
        after = await me.get(added.headers["location"])
        assert shown in after.text
        assert note in after.text
        assert "Added." in after.text
        dashboard = await me.get("/records")
        assert f'href="/records/{section}"' in dashboard.text

    async def test_the_symptom_page_suggests_the_catalog_and_keeps_a_refused_form(
        self, browser: Browser, make_user: MakeUser
    ) -> None:
        me = await browser(await make_user(Role.patient))
        page = await me.get("/records/symptoms")
        assert '<datalist id="symptom-catalog">' in page.text
        assert '<option value="Headache">' in page.text
        assert 'type="range"' in page.text
        tomorrow = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
        refused = await me.post(
            "/records/symptoms",
            data={
                "csrf_token": csrf(page),
                "name": "Nausea",
                "severity": "3",
                "onset_at": tomorrow,
            },
        )
        assert refused.status_code == 422
        assert "cannot begin in the future" in refused.text
        assert 'value="Nausea"' in refused.text
        assert f'value="{tomorrow}"' in refused.text
        empty = await me.post("/records/symptoms", data={"csrf_token": csrf(page)})
        assert empty.status_code == 422
        assert "Symptom: required" in empty.text

    async def test_a_symptom_is_deleted(self, browser: Browser, make_user: MakeUser) -> None:
        me = await browser(await make_user(Role.patient))
        page = await me.get("/records/symptoms")
        data = {"csrf_token": csrf(page), "name": "Cough", "severity": "2"}
        await me.post("/records/symptoms", data=data)
        listed = await me.get("/records/symptoms")
        assert "Cough" in listed.text
        entry_id = listed.text.split('action="/records/symptoms/')[1].split("/delete")[0]
        deleted = await me.post(
            f"/records/symptoms/{entry_id}/delete", data={"csrf_token": csrf(listed)}
        )
        assert deleted.status_code == 303
        after = await me.get(deleted.headers["location"])
        assert "Entry deleted." in after.text
        assert 'id="no-entries"' in after.text

    async def test_the_duplicate_allergy_is_shown_in_the_form(
        self, browser: Browser, make_user: MakeUser, database: Database
    ) -> None:
        user = await make_user(Role.patient)
        me = await browser(user)
        page = await me.get("/records/allergies")
        data = {"csrf_token": csrf(page), "substance": "Latex", "severity": "mild"}
        assert (await me.post("/records/allergies", data=data)).status_code == 303
        again = await me.post(
            "/records/allergies", data={**data, "substance": "latex", "reaction": "Rash"}
        )
        assert again.status_code == 409
        assert "already in your allergies" in again.text
        assert 'value="latex"' in again.text
        assert 'value="Rash"' in again.text
        assert await count(database, Allergy, user.id) == 1

    async def test_a_condition_is_resolved(
        self, browser: Browser, make_user: MakeUser, database: Database
    ) -> None:
        me = await browser(await make_user(Role.patient))
        page = await me.get("/records/conditions")
        fields, _ = FORMS["conditions"]
        await me.post("/records/conditions", data={"csrf_token": csrf(page), **fields})
        listed = await me.get("/records/conditions")
        condition_id = listed.text.split('action="/records/conditions/')[1].split("/status")[0]
        changed = await me.post(
            f"/records/conditions/{condition_id}/status",
            data={"csrf_token": csrf(listed), "status": "resolved"},
        )
        assert changed.status_code == 303
        after = await me.get(changed.headers["location"])
        assert "Status changed." in after.text
        assert "resolved on" in after.text
        # Back to active: the resolved date goes.
        again = await me.post(
            f"/records/conditions/{condition_id}/status",
            data={"csrf_token": csrf(after), "status": "active"},
        )
        assert again.status_code == 303
        async with database.transaction() as db:
            row = await db.get(Condition, uuid.UUID(condition_id))
            assert row is not None
            assert (row.status, row.resolved_on) == ("active", None)

    async def test_a_document_upload_and_download_round_trip(
        self, browser: Browser, make_user: MakeUser, database: Database
    ) -> None:
        user = await make_user(Role.patient)
        me = await browser(user)
        page = await me.get("/records/documents")
        assert 'enctype="multipart/form-data"' in page.text
        content = f"Haemoglobin 14.1 g/dL {RECORD_CANARY}".encode()
        sent = await me.post(
            "/records/documents",
            data={"csrf_token": csrf(page), "title": "Blood count", "category": "lab_result",
                  "dated_on": YESTERDAY},
            files={"file": ("results.txt", content, "text/plain")},
        )  # fmt: skip
        assert sent.status_code == 303, sent.text
        listed = await me.get(sent.headers["location"])
        assert "Document added." in listed.text
        assert "Blood count" in listed.text
        assert "Lab result" in listed.text
        assert f"{len(content)} bytes" in listed.text
        link = listed.text.split('href="/records/documents/')[1].split('"')[0]
        download = await me.get(f"/records/documents/{link}")
        assert download.status_code == 200
        assert download.content == content
        assert download.headers["content-disposition"].startswith("attachment")
        # A refused file: the form again with the reason and the title typed.
        refused = await me.post(
            "/records/documents",
            data={"csrf_token": csrf(listed), "title": "Empty one", "category": "letter"},
            files={"file": ("empty.txt", b"", "text/plain")},
        )
        assert refused.status_code == 422
        assert 'value="Empty one"' in refused.text
        document_id = link.removesuffix("/file")
        deleted = await me.post(
            f"/records/documents/{document_id}/delete", data={"csrf_token": csrf(listed)}
        )
        assert deleted.status_code == 303
        assert await count(database, RecordDocument, user.id) == 0


class TestTheDoctor:
    async def test_the_doctor_reads_each_section_and_downloads_audited(
        self,
        browser: Browser,
        consultation: MakeConsultation,
        client: httpx.AsyncClient,
        database: Database,
    ) -> None:
        visit = await consultation("completed")
        patient = visit.patient
        for section in FORMS:
            await add_entry(client, patient.headers, section)
        sent = await upload(
            client, patient.headers, ("letter.txt", b"Dear colleague", "text/plain")
        )
        document_id = sent.json()["id"]
        doctor = await browser(visit.doctor.user)
        base = f"/patients/{patient.user.id}/record"
        before = await _audit_reads(database, visit.doctor.user.id)
        for section in SECTIONS:
            page = await doctor.get(f"{base}/{section}")
            assert page.status_code == 200, section
            assert RECORD_CANARY in page.text or section == "documents"
            assert 'id="entry-form"' not in page.text  # the diary is the patient's to write
            assert 'id="document-form"' not in page.text
            assert "Delete" not in page.text
            assert f'id="record-nav-{section}"' in page.text
        file = await doctor.get(f"{base}/documents/{document_id}/file")
        assert file.status_code == 200
        assert file.content == b"Dear colleague"
        assert await _audit_reads(database, visit.doctor.user.id) >= before + len(SECTIONS) + 1
        # The patient's own address of the doctor's view leads to their own page.
        me = await browser(patient.user)
        own = await me.get(f"{base}/symptoms")
        assert own.status_code == 303
        assert own.headers["location"] == "/records/symptoms"

    async def test_a_grant_of_allergies_only_shows_allergies_and_no_documents(
        self,
        browser: Browser,
        make_user: MakeUser,
        person: MakePerson,
        client: httpx.AsyncClient,
    ) -> None:
        owner = await person(Role.patient)
        await add_entry(client, owner.headers, "allergies")
        await add_entry(client, owner.headers, "symptoms")
        sent = await upload(client, owner.headers, ("letter.txt", b"Private letter", "text/plain"))
        document_id = sent.json()["id"]
        reader_user = await make_user(Role.doctor)
        await grant(client, owner.headers, reader_user.id, ["allergies"])
        reader = await browser(reader_user)
        base = f"/patients/{owner.user.id}/record"
        allergies = await reader.get(f"{base}/allergies")
        assert allergies.status_code == 200
        assert "Penicillin" in allergies.text
        assert 'id="entry-form"' not in allergies.text  # a grant is for reading
        assert 'id="record-nav-allergies"' in allergies.text
        for hidden in ("symptoms", "conditions", "immunizations", "documents"):
            assert f'id="record-nav-{hidden}"' not in allergies.text
            page = await reader.get(f"{base}/{hidden}")
            assert page.status_code == 404, hidden
            assert RECORD_CANARY not in page.text
        file = await reader.get(f"{base}/documents/{document_id}/file")
        assert file.status_code == 404
        assert b"Private letter" not in file.content
