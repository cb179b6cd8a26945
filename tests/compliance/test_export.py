"""Data export through the API: who may ask and read (a patient for themselves, an admin on a
patient's behalf who may not download), one in progress at a time and a daily limit, the job
that builds the ZIP (run by a real worker), the download (audited, the patient alone) and the
expiry (410, the stored file gone)."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select, update

from carebridge.accounts.models import Role, User
from carebridge.compliance import export
from carebridge.compliance.export_models import DataExport, ExportStatus
from carebridge.compliance.models import AuditEvent
from carebridge.config import Settings
from carebridge.notifications.models import Notification
from carebridge.platform.db import Database
from carebridge.platform.jobs import job_app
from carebridge.platform.storage import FileMissing, storage_for
from tests.factories import Headers, MakeUser, TokenFor, work

API = "/api/v1/me/exports"


@pytest.fixture
async def exports_queue(client: httpx.AsyncClient) -> AsyncIterator[None]:
    """Build jobs are deferred on the job queue's own connection: emptied afterwards."""
    yield
    await job_app.connector.execute_query_async(
        "DELETE FROM procrastinate_jobs WHERE queue_name IN ('compliance', 'notifications')"
    )


async def person(make_user: MakeUser, token_for: TokenFor, role: Role) -> tuple[User, Headers]:
    user = await make_user(role)
    return user, await token_for(user)


async def audit_rows(database: Database, action: str, export_id: str) -> list[AuditEvent]:
    async with database.transaction() as db:
        found = await db.scalars(
            select(AuditEvent).where(
                AuditEvent.action == action, AuditEvent.resource_id == export_id
            )
        )
        return list(found)


async def requested(client: httpx.AsyncClient, headers: Headers) -> dict[str, str]:
    response = await client.post(API, headers=headers)
    assert response.status_code == 202, response.text
    body: dict[str, str] = response.json()
    return body


async def built(
    client: httpx.AsyncClient,
    settings: Settings,
    database: Database,
    headers: Headers,
    body: dict[str, str] | None = None,
) -> dict[str, str]:
    """An export asked for (unless given) and built by a real worker."""
    body = body or await requested(client, headers)
    await work(settings, database, queue="compliance")
    status = await client.get(f"{API}/{body['id']}", headers=headers)
    assert status.status_code == 200
    ready: dict[str, str] = status.json()
    assert ready["status"] == "ready", ready
    return ready


@pytest.mark.usefixtures("exports_queue")
class TestAsking:
    async def test_refused_callers(
        self, client: httpx.AsyncClient, make_user: MakeUser, token_for: TokenFor
    ) -> None:
        assert (await client.post(API)).status_code == 401
        _, doctor = await person(make_user, token_for, Role.doctor)
        assert (await client.post(API, headers=doctor)).status_code == 403
        _, admin = await person(make_user, token_for, Role.admin)
        assert (await client.post(API, headers=admin)).status_code == 403
        patient, headers = await person(make_user, token_for, Role.patient)
        on_behalf = f"/api/v1/admin/patients/{patient.id}/exports"
        assert (await client.post(on_behalf, headers=headers)).status_code == 403
        assert (await client.post(on_behalf, headers=doctor)).status_code == 403

    async def test_a_patient_asks_once_at_a_time_and_it_is_audited(
        self,
        client: httpx.AsyncClient,
        make_user: MakeUser,
        token_for: TokenFor,
        database: Database,
    ) -> None:
        patient, headers = await person(make_user, token_for, Role.patient)
        body = await requested(client, headers)
        assert body["status"] == "pending"
        assert body["on_behalf"] is False
        again = await client.post(API, headers=headers)
        assert again.status_code == 409
        assert again.json()["code"] == "export_in_progress"
        [event] = await audit_rows(database, "export.requested", body["id"])
        assert (event.actor_id, event.actor_role, event.subject_id) == (
            patient.id,
            "patient",
            patient.id,
        )
        assert event.details == {"on_behalf": False}

    async def test_the_daily_limit(
        self,
        client: httpx.AsyncClient,
        make_user: MakeUser,
        token_for: TokenFor,
        database: Database,
        settings: Settings,
    ) -> None:
        patient, headers = await person(make_user, token_for, Role.patient)
        async with database.transaction() as db:
            db.add_all(
                DataExport(patient_id=patient.id, status=ExportStatus.failed)
                for _ in range(settings.export_daily_limit)
            )
        refused = await client.post(API, headers=headers)
        assert refused.status_code == 429
        assert refused.json()["code"] == "export_rate_limited"
        assert int(refused.headers["retry-after"]) > 0

    async def test_someone_elses_export_is_not_found(
        self, client: httpx.AsyncClient, make_user: MakeUser, token_for: TokenFor
    ) -> None:
        _, owner = await person(make_user, token_for, Role.patient)
        _, other = await person(make_user, token_for, Role.patient)
        body = await requested(client, owner)
        for path in (f"{API}/{body['id']}", f"{API}/{body['id']}/download"):
            response = await client.get(path, headers=other)
            assert response.status_code == 404
            assert response.json()["code"] == "export_not_found"
        assert (await client.get(f"{API}/{uuid.uuid4()}", headers=owner)).status_code == 404

    async def test_an_admin_asks_on_behalf_and_cannot_download(
        self,
        client: httpx.AsyncClient,
        make_user: MakeUser,
        token_for: TokenFor,
        database: Database,
        settings: Settings,
    ) -> None:
        admin_user, admin = await person(make_user, token_for, Role.admin)
        patient, headers = await person(make_user, token_for, Role.patient)
        doctor, _ = await person(make_user, token_for, Role.doctor)
        response = await client.post(f"/api/v1/admin/patients/{patient.id}/exports", headers=admin)
        assert response.status_code == 202, response.text
        body = response.json()
        assert body["on_behalf"] is True
        [event] = await audit_rows(database, "export.requested", body["id"])
        assert (event.actor_id, event.actor_role, event.subject_id) == (
            admin_user.id,
            "admin",
            patient.id,
        )
        assert event.details == {"on_behalf": True}
        for nobody in (doctor.id, uuid.uuid4()):
            missing = await client.post(f"/api/v1/admin/patients/{nobody}/exports", headers=admin)
            assert missing.status_code == 404
            assert missing.json()["code"] == "patient_not_found"
        await work(settings, database, queue="compliance")
        download = f"{API}/{body['id']}/download"
        assert (await client.get(download, headers=admin)).status_code == 403
        assert (await client.get(download, headers=headers)).status_code == 200


@pytest.mark.usefixtures("exports_queue")
class TestBuilding:
    async def test_requested_built_downloaded(
        self,
        client: httpx.AsyncClient,
        make_user: MakeUser,
        token_for: TokenFor,
        database: Database,
        settings: Settings,
    ) -> None:
        patient, headers = await person(make_user, token_for, Role.patient)
        pending = await requested(client, headers)
        early = await client.get(f"{API}/{pending['id']}/download", headers=headers)
        assert early.status_code == 409
        assert early.json()["code"] == "export_not_ready"
        ready = await built(client, settings, database, headers, pending)
        assert int(ready["size"]) > 0
        expires = datetime.fromisoformat(ready["expires_at"])
        delay = expires - datetime.fromisoformat(ready["ready_at"])
        assert delay == timedelta(days=settings.export_days)
        response = await client.get(f"{API}/{ready['id']}/download", headers=headers)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/zip"
        assert "attachment" in response.headers["content-disposition"]
        archive = zipfile.ZipFile(io.BytesIO(response.content))
        names = set(archive.namelist())
        assert {"manifest.json", "accounts.json", "records.json", "summary.pdf"} <= names
        manifest = json.loads(archive.read("manifest.json"))
        assert manifest["format_version"] == 1
        assert manifest["patient_id"] == str(patient.id)
        assert "FHIR" in manifest["fhir"]
        assert manifest["generated_at"]
        assert archive.read("summary.pdf").startswith(b"%PDF")
        account = json.loads(archive.read("accounts.json"))["account"]
        assert account["email"] == patient.email
        assert "password_hash" not in account
        [event] = await audit_rows(database, "export.downloaded", ready["id"])
        assert (event.actor_id, event.subject_id) == (patient.id, patient.id)
        async with database.transaction() as db:
            told = await db.scalar(
                select(Notification).where(
                    Notification.recipient_id == patient.id, Notification.kind == "export_ready"
                )
            )
        assert told is not None
        assert told.link == "/account/data"

    async def test_stored_sealed(
        self,
        client: httpx.AsyncClient,
        make_user: MakeUser,
        token_for: TokenFor,
        database: Database,
        settings: Settings,
    ) -> None:
        patient, headers = await person(make_user, token_for, Role.patient)
        ready = await built(client, settings, database, headers)
        stored = await storage_for(settings).get(f"exports/{patient.id}/{ready['id']}.zip")
        assert not stored.startswith(b"PK")
        assert patient.email.encode() not in stored

    async def test_expiry_deletes_the_file_and_answers_410(
        self,
        client: httpx.AsyncClient,
        make_user: MakeUser,
        token_for: TokenFor,
        database: Database,
        settings: Settings,
    ) -> None:
        patient, headers = await person(make_user, token_for, Role.patient)
        ready = await built(client, settings, database, headers)
        export_id = uuid.UUID(ready["id"])
        async with database.transaction() as db:
            await db.execute(
                update(DataExport)
                .where(DataExport.id == export_id)
                .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        # Past its time, it is gone even before the job ran.
        gone = await client.get(f"{API}/{export_id}/download", headers=headers)
        assert gone.status_code == 410
        assert gone.json()["code"] == "export_expired"
        assert await export.expire_exports(database, settings) == 1
        status = await client.get(f"{API}/{export_id}", headers=headers)
        assert status.json()["status"] == "expired"
        assert (await client.get(f"{API}/{export_id}/download", headers=headers)).status_code == 410
        with pytest.raises(FileMissing):
            await storage_for(settings).get(f"exports/{patient.id}/{export_id}.zip")
        assert await audit_rows(database, "export.expired", str(export_id))
        # The next one may be asked for.
        assert (await client.post(API, headers=headers)).status_code == 202

    async def test_one_claim_at_a_time_and_a_stale_claim_is_taken_over(
        self,
        client: httpx.AsyncClient,
        make_user: MakeUser,
        token_for: TokenFor,
        database: Database,
    ) -> None:
        _, headers = await person(make_user, token_for, Role.patient)
        export_id = uuid.UUID((await requested(client, headers))["id"])
        first = await export.claim(database, export_id)
        assert first is not None
        assert first.status == ExportStatus.building
        assert await export.claim(database, export_id) is None
        assert export_id not in await export.unfinished_exports(database, older_than=timedelta())
        async with database.transaction() as db:
            await db.execute(
                update(DataExport)
                .where(DataExport.id == export_id)
                .values(claimed_at=datetime.now(UTC) - export.STALE_CLAIM - timedelta(seconds=1))
            )
        assert export_id in await export.unfinished_exports(database, older_than=timedelta())
        second = await export.claim(database, export_id)
        assert second is not None
        assert second.attempts == 2

    async def test_the_sweep_finds_a_lost_job(
        self,
        client: httpx.AsyncClient,
        make_user: MakeUser,
        token_for: TokenFor,
        database: Database,
    ) -> None:
        _, headers = await person(make_user, token_for, Role.patient)
        export_id = uuid.UUID((await requested(client, headers))["id"])
        assert export_id not in await export.unfinished_exports(
            database, older_than=timedelta(minutes=2)
        )
        assert export_id in await export.unfinished_exports(database, older_than=timedelta())
