"""The record's documents: who may call, upload/list/download/delete, the file sealed in the
storage, a file of the wrong type refused with nothing stored, malware refused, clinicians' audited
list and downloads (in the patient's access log), and a grant that does not cover documents."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from carebridge.accounts.models import Role
from carebridge.app import create_app
from carebridge.compliance.models import AuditEvent
from carebridge.config import Settings
from carebridge.platform.db import Database
from tests.factories import files as make
from tests.factories.clamd import EICAR, ClamdPeer
from tests.factories.messaging import stored
from tests.factories.prescriptions import MakeConsultation
from tests.factories.records_diary import documents_of, grant, upload
from tests.factories.users import Person

MakePerson = Callable[..., Awaitable[Person]]
API = "/api/v1"
PDF = ("results.pdf", make.pdf(), "application/pdf")


async def uploaded(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, str]:
    answer = await upload(client, headers, PDF, dated_on="2026-11-30")
    assert answer.status_code == 201, answer.text
    result: dict[str, str] = answer.json()
    return result


def files_of(settings: Settings, patient: Person) -> dict[str, bytes]:
    prefix = f"records/{patient.user.id}/documents/"
    return {key: data for key, data in stored(settings).items() if key.startswith(prefix)}


class TestCallers:
    async def test_refused_callers(
        self, client: httpx.AsyncClient, person: MakePerson, database: Database
    ) -> None:
        owner, other = await person(), await person()
        doctor, admin = await person(Role.doctor), await person(Role.admin)
        path = f"{API}/records/documents"
        assert (await client.get(path)).status_code == 401
        assert (await upload(client, {}, PDF)).status_code == 401
        refused = await upload(client, doctor.headers, PDF)
        assert (refused.status_code, refused.json()["code"]) == (403, "wrong_role")
        document = await uploaded(client, owner.headers)
        file_path = f"{path}/{document['id']}/file"
        assert (await client.get(file_path)).status_code == 401
        assert (await client.get(file_path, headers=other.headers)).status_code == 404
        assert (
            await client.delete(f"{path}/{document['id']}", headers=other.headers)
        ).status_code == 404
        assert (await client.get(path, headers=other.headers)).json()["items"] == []
        reading = f"{API}/patients/{owner.user.id}/records/documents"
        assert (await client.get(reading, headers=doctor.headers)).status_code == 404
        download = f"{reading}/{document['id']}/file"
        assert (await client.get(download, headers=doctor.headers)).status_code == 404
        assert (await client.get(download, headers=admin.headers)).status_code == 403
        assert await documents_of(database, owner.user.id) == 1


class TestDocuments:
    async def test_upload_list_download_delete(
        self, client: httpx.AsyncClient, person: MakePerson, database: Database, settings: Settings
    ) -> None:
        patient = await person()
        document = await uploaded(client, patient.headers)
        assert document["content_type"] == "application/pdf"
        assert (document["category"], document["title"]) == ("lab_result", "Blood count")
        assert (document["filename"], document["dated_on"]) == ("results.pdf", "2026-11-30")
        listed = (await client.get(f"{API}/records/documents", headers=patient.headers)).json()
        assert [d["id"] for d in listed["items"]] == [document["id"]]
        got = await client.get(
            f"{API}/records/documents/{document['id']}/file", headers=patient.headers
        )
        assert got.status_code == 200
        assert got.content == PDF[1]
        assert got.headers["content-disposition"] == 'attachment; filename="results.pdf"'
        assert len(files_of(settings, patient)) == 1
        deleted = await client.delete(
            f"{API}/records/documents/{document['id']}", headers=patient.headers
        )
        assert deleted.status_code == 204
        assert await documents_of(database, patient.user.id) == 0
        assert files_of(settings, patient) == {}
        gone = await client.get(
            f"{API}/records/documents/{document['id']}/file", headers=patient.headers
        )
        assert (gone.status_code, gone.json()["code"]) == (404, "document_not_found")

    async def test_the_bytes_are_sealed_in_the_storage(
        self, client: httpx.AsyncClient, person: MakePerson, settings: Settings
    ) -> None:
        patient = await person()
        answer = await upload(client, patient.headers, ("notes.txt", make.text(), "text/plain"))
        assert answer.status_code == 201, answer.text
        (data,) = files_of(settings, patient).values()
        assert make.CANARY.encode() not in data
        got = await client.get(
            f"{API}/records/documents/{answer.json()['id']}/file", headers=patient.headers
        )
        assert got.content == make.text()

    @pytest.mark.parametrize(
        ("file", "form", "code"),
        [
            (("page.html", make.html(), "text/html"), {}, "attachment_type_not_allowed"),
            (("scan.pdf", make.png(), "application/pdf"), {}, "attachment_name_mismatch"),
            (("empty.pdf", b"", "application/pdf"), {}, "attachment_empty"),
            (PDF, {"category": "x-ray"}, "validation_error"),
            (PDF, {"title": "   "}, "validation_error"),
            (PDF, {"dated_on": "yesterday"}, "validation_error"),
        ],
    )
    async def test_refused_and_nothing_stored(
        self,
        file: tuple[str, bytes, str],
        form: dict[str, str],
        code: str,
        client: httpx.AsyncClient,
        person: MakePerson,
        database: Database,
        settings: Settings,
    ) -> None:
        patient = await person()
        answer = await upload(client, patient.headers, file, **form)
        assert answer.status_code == 422, answer.text
        assert answer.json()["code"] == code
        assert await documents_of(database, patient.user.id) == 0
        assert files_of(settings, patient) == {}


class TestClinicians:
    async def test_a_doctors_list_and_download_are_audited(
        self, client: httpx.AsyncClient, consultation: MakeConsultation, database: Database
    ) -> None:
        visit = await consultation("completed")
        document = await uploaded(client, visit.patient.headers)
        base = f"{API}/patients/{visit.patient.user.id}/records/documents"
        listed = await client.get(base, headers=visit.doctor.headers)
        assert [d["id"] for d in listed.json()["items"]] == [document["id"]]
        got = await client.get(f"{base}/{document['id']}/file", headers=visit.doctor.headers)
        assert got.status_code == 200
        assert got.content == PDF[1]
        log = await client.get(f"{API}/records/access-log", headers=visit.patient.headers)
        reads = [(e["action"], e["section"], e["basis"]) for e in log.json()["items"]]
        assert reads == [("read", "documents", "care")] * 2
        async with database.transaction() as db:
            details = list(
                await db.scalars(
                    select(AuditEvent.details).where(
                        AuditEvent.action == "record.read",
                        AuditEvent.resource_id == str(visit.patient.user.id),
                    )
                )
            )
        assert {"section": "documents", "basis": "care", "object_id": document["id"]} in [
            {k: d.get(k) for k in ("section", "basis", "object_id")} for d in details
        ]

    async def test_a_grant_for_allergies_only_finds_no_documents(
        self, client: httpx.AsyncClient, person: MakePerson
    ) -> None:
        patient, doctor = await person(), await person(Role.doctor)
        document = await uploaded(client, patient.headers)
        await grant(client, patient.headers, doctor.user.id, ["allergies"])
        base = f"{API}/patients/{patient.user.id}/records"
        assert (await client.get(f"{base}/allergies", headers=doctor.headers)).status_code == 200
        assert (await client.get(f"{base}/documents", headers=doctor.headers)).status_code == 404
        download = f"{base}/documents/{document['id']}/file"
        assert (await client.get(download, headers=doctor.headers)).status_code == 404


class TestScan:
    """With ``CAREBRIDGE_CLAMD_URL`` set the upload waits for clamd's answer."""

    @pytest.fixture
    async def clamd(self) -> AsyncIterator[ClamdPeer]:
        peer = ClamdPeer()
        yield peer
        await peer.close()

    @pytest.fixture
    async def app(self, settings: Settings, database: Database, clamd: ClamdPeer) -> FastAPI:
        scanned = settings.model_copy(update={"clamd_url": await clamd.start_tcp()})
        return create_app(scanned, database=database)

    async def test_malware_is_refused_and_a_clean_file_kept(
        self, client: httpx.AsyncClient, person: MakePerson, database: Database, clamd: ClamdPeer
    ) -> None:
        patient = await person()
        infected = await upload(client, patient.headers, ("eicar.txt", EICAR, "text/plain"))
        assert (infected.status_code, infected.json()["code"]) == (422, "document_infected")
        assert await documents_of(database, patient.user.id) == 0
        await uploaded(client, patient.headers)
        assert len(clamd.streams) == 2
        assert await documents_of(database, patient.user.id) == 1

    async def test_no_answer_is_503_and_nothing_stored(
        self, client: httpx.AsyncClient, person: MakePerson, database: Database, clamd: ClamdPeer
    ) -> None:
        clamd.behaviour = "garbage"
        patient = await person()
        answer = await upload(client, patient.headers, PDF)
        assert (answer.status_code, answer.json()["code"]) == (503, "document_scan_unavailable")
        assert await documents_of(database, patient.user.id) == 0
