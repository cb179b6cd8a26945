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
from dataclasses import dataclass
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


@dataclass
class Kit:
    """The app's client, its database and settings, and people with their bearer headers."""

    client: httpx.AsyncClient
    database: Database
    settings: Settings
    make_user: MakeUser
    token_for: TokenFor

    async def person(self, role: Role = Role.patient) -> tuple[User, Headers]:
        user = await self.make_user(role)
        return user, await self.token_for(user)

    async def audit_rows(self, action: str, export_id: str) -> list[AuditEvent]:
        async with self.database.transaction() as db:
            found = await db.scalars(
                select(AuditEvent).where(
                    AuditEvent.action == action, AuditEvent.resource_id == export_id
                )
            )
            return list(found)

    async def requested(self, headers: Headers) -> dict[str, str]:
        response = await self.client.post(API, headers=headers)
        assert response.status_code == 202, response.text
        body: dict[str, str] = response.json()
        return body

    async def built(self, headers: Headers, body: dict[str, str] | None = None) -> dict[str, str]:
        """An export asked for (unless given) and built by a real worker."""
        body = body or await self.requested(headers)
        await work(self.settings, self.database, queue="exports")
        status = await self.client.get(f"{API}/{body['id']}", headers=headers)
        assert status.status_code == 200
        ready: dict[str, str] = status.json()
        assert ready["status"] == "ready", ready
        return ready


@pytest.fixture
async def kit(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    make_user: MakeUser,
    token_for: TokenFor,
) -> AsyncIterator[Kit]:
    """Build jobs are deferred on the job queue's own connection: emptied afterwards."""
    yield Kit(client, database, settings, make_user, token_for)
    await job_app.connector.execute_query_async(
        "DELETE FROM procrastinate_jobs WHERE queue_name IN ('compliance', 'notifications')"
    )


class TestAsking:
    async def test_refused_callers(self, kit: Kit) -> None:
        assert (await kit.client.post(API)).status_code == 401
        _, doctor = await kit.person(Role.doctor)
        assert (await kit.client.post(API, headers=doctor)).status_code == 403
        _, admin = await kit.person(Role.admin)
        assert (await kit.client.post(API, headers=admin)).status_code == 403
        patient, headers = await kit.person(Role.patient)
        on_behalf = f"/api/v1/admin/patients/{patient.id}/exports"
        assert (await kit.client.post(on_behalf, headers=headers)).status_code == 403
        assert (await kit.client.post(on_behalf, headers=doctor)).status_code == 403

    async def test_a_patient_asks_once_at_a_time_and_it_is_audited(self, kit: Kit) -> None:
        patient, headers = await kit.person(Role.patient)
        body = await kit.requested(headers)
        assert body["status"] == "pending"
        assert body["on_behalf"] is False
        again = await kit.client.post(API, headers=headers)
        assert again.status_code == 409
        assert again.json()["code"] == "export_in_progress"
        [event] = await kit.audit_rows("export.requested", body["id"])
        assert (event.actor_id, event.actor_role, event.subject_id) == (
            patient.id,
            "patient",
            patient.id,
        )
        assert event.details == {"on_behalf": False}

    async def test_the_daily_limit(self, kit: Kit) -> None:
        patient, headers = await kit.person(Role.patient)
        async with kit.database.transaction() as db:
            db.add_all(
                DataExport(patient_id=patient.id, status=ExportStatus.failed)
                for _ in range(kit.settings.export_daily_limit)
            )
        refused = await kit.client.post(API, headers=headers)
        assert refused.status_code == 429
        assert refused.json()["code"] == "export_rate_limited"
        assert int(refused.headers["retry-after"]) > 0

    async def test_someone_elses_export_is_not_found(self, kit: Kit) -> None:
        _, owner = await kit.person(Role.patient)
        _, other = await kit.person(Role.patient)
        body = await kit.requested(owner)
        for path in (f"{API}/{body['id']}", f"{API}/{body['id']}/download"):
            response = await kit.client.get(path, headers=other)
            assert response.status_code == 404
            assert response.json()["code"] == "export_not_found"
        assert (await kit.client.get(f"{API}/{uuid.uuid4()}", headers=owner)).status_code == 404

    async def test_an_admin_asks_on_behalf_and_cannot_download(self, kit: Kit) -> None:
        admin_user, admin = await kit.person(Role.admin)
        patient, headers = await kit.person(Role.patient)
        doctor, _ = await kit.person(Role.doctor)
        response = await kit.client.post(
            f"/api/v1/admin/patients/{patient.id}/exports", headers=admin
        )
        assert response.status_code == 202, response.text
        body = response.json()
        assert body["on_behalf"] is True
        [event] = await kit.audit_rows("export.requested", body["id"])
        assert (event.actor_id, event.actor_role, event.subject_id) == (
            admin_user.id,
            "admin",
            patient.id,
        )
        assert event.details == {"on_behalf": True}
        for nobody in (doctor.id, uuid.uuid4()):
            missing = await kit.client.post(
                f"/api/v1/admin/patients/{nobody}/exports", headers=admin
            )
            assert missing.status_code == 404
            assert missing.json()["code"] == "patient_not_found"
        await work(kit.settings, kit.database, queue="exports")
        download = f"{API}/{body['id']}/download"
        assert (await kit.client.get(download, headers=admin)).status_code == 403
        assert (await kit.client.get(download, headers=headers)).status_code == 200


class TestBuilding:
    async def test_requested_built_downloaded(self, kit: Kit) -> None:
        patient, headers = await kit.person(Role.patient)
        pending = await kit.requested(headers)
        early = await kit.client.get(f"{API}/{pending['id']}/download", headers=headers)
        assert early.status_code == 409
        assert early.json()["code"] == "export_not_ready"
        ready = await kit.built(headers, pending)
        assert int(ready["size"]) > 0
        expires = datetime.fromisoformat(ready["expires_at"])
        delay = expires - datetime.fromisoformat(ready["ready_at"])
        assert delay == timedelta(days=kit.settings.export_days)
        response = await kit.client.get(f"{API}/{ready['id']}/download", headers=headers)
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
        [event] = await kit.audit_rows("export.downloaded", ready["id"])
        assert (event.actor_id, event.subject_id) == (patient.id, patient.id)
        async with kit.database.transaction() as db:
            told = await db.scalar(
                select(Notification).where(
                    Notification.recipient_id == patient.id, Notification.kind == "export_ready"
                )
            )
        assert told is not None
        assert told.link == "/account/data"

    async def test_stored_sealed(self, kit: Kit) -> None:
        patient, headers = await kit.person(Role.patient)
        ready = await kit.built(headers)
        stored = await storage_for(kit.settings).get(f"exports/{patient.id}/{ready['id']}.zip")
        assert not stored.startswith(b"PK")
        assert patient.email.encode() not in stored

    async def test_expiry_deletes_the_file_and_answers_410(self, kit: Kit) -> None:
        patient, headers = await kit.person(Role.patient)
        ready = await kit.built(headers)
        export_id = uuid.UUID(ready["id"])
        async with kit.database.transaction() as db:
            await db.execute(
                update(DataExport)
                .where(DataExport.id == export_id)
                .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        # Past its time, it is gone even before the job ran.
        gone = await kit.client.get(f"{API}/{export_id}/download", headers=headers)
        assert gone.status_code == 410
        assert gone.json()["code"] == "export_expired"
        assert await export.expire_exports(kit.database, kit.settings) == 1
        status = await kit.client.get(f"{API}/{export_id}", headers=headers)
        assert status.json()["status"] == "expired"
        assert (
            await kit.client.get(f"{API}/{export_id}/download", headers=headers)
        ).status_code == 410
        with pytest.raises(FileMissing):
            await storage_for(kit.settings).get(f"exports/{patient.id}/{export_id}.zip")
        assert await kit.audit_rows("export.expired", str(export_id))
        # The next one may be asked for.
        assert (await kit.client.post(API, headers=headers)).status_code == 202

    async def test_one_claim_at_a_time_and_a_stale_claim_is_taken_over(self, kit: Kit) -> None:
        _, headers = await kit.person(Role.patient)
        export_id = uuid.UUID((await kit.requested(headers))["id"])
        first = await export.claim(kit.database, export_id)
        assert first is not None
        assert first.status == ExportStatus.building
        assert await export.claim(kit.database, export_id) is None
        assert export_id not in await export.unfinished_exports(
            kit.database, older_than=timedelta()
        )
        async with kit.database.transaction() as db:
            await db.execute(
                update(DataExport)
                .where(DataExport.id == export_id)
                .values(claimed_at=datetime.now(UTC) - export.STALE_CLAIM - timedelta(seconds=1))
            )
        assert export_id in await export.unfinished_exports(kit.database, older_than=timedelta())
        second = await export.claim(kit.database, export_id)
        assert second is not None
        assert second.attempts == 2

    async def test_the_sweep_finds_a_lost_job(self, kit: Kit) -> None:
        _, headers = await kit.person(Role.patient)
        export_id = uuid.UUID((await kit.requested(headers))["id"])
        assert export_id not in await export.unfinished_exports(
            kit.database, older_than=timedelta(minutes=2)
        )
        assert export_id in await export.unfinished_exports(kit.database, older_than=timedelta())


async def test_a_failed_build_is_retried_then_failed(kit: Kit) -> None:
    """The storage cannot be written: each attempt puts the export back to pending for the
    job's retry, and the last one marks it failed (the page then offers a new one)."""
    _, headers = await kit.person()
    export_id = uuid.UUID((await kit.requested(headers))["id"])
    broken = kit.settings.model_copy(update={"storage_url": "file:///proc/carebridge-no-storage"})
    statuses = []
    for _ in range(export.MAX_ATTEMPTS):
        with pytest.raises(OSError, match="No such file or directory"):
            await export.build(kit.database, broken, export_id)
        status = await kit.client.get(f"{API}/{export_id}", headers=headers)
        statuses.append(status.json()["status"])
    assert statuses == ["pending"] * (export.MAX_ATTEMPTS - 1) + ["failed"]
    assert not await export.build(kit.database, kit.settings, export_id)
    assert (await kit.client.post(API, headers=headers)).status_code == 202
