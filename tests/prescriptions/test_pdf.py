"""The printed prescription: rendered by a job after the issue, downloaded by the people allowed
(each download audited), checked by anyone on the public verify page (no health details)."""

from __future__ import annotations

import io
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pypdf
from sqlalchemy import func, select

from carebridge.accounts.models import Role
from carebridge.compliance.models import AuditEvent
from carebridge.config import Settings
from carebridge.platform.db import Database
from carebridge.platform.storage import storage_for
from carebridge.prescriptions import documents, tasks
from carebridge.prescriptions.models import Prescription
from tests.factories import Person, work
from tests.factories.prescriptions import CANARY, MakeConsultation

Json = dict[str, Any]
Make = Callable[..., Awaitable[Json]]
MakePerson = Callable[..., Awaitable[Person]]


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)


async def test_the_pdf_holds_the_lines_and_the_code_and_no_diagnosis(
    client: httpx.AsyncClient, consultation: MakeConsultation, issued: Make, settings: Settings
) -> None:
    visit = await consultation()
    done = await issued(visit)
    answer = await client.get(
        f"/api/v1/prescriptions/{done['id']}/pdf", headers=visit.patient.headers
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    assert done["verification_code"] in answer.headers["content-disposition"]
    assert answer.headers["cache-control"] == "no-store"
    text = _text(answer.content)
    for expected in (
        settings.clinic_name,
        visit.doctor.user.name,
        "MD-4242",
        visit.patient.user.name,
        "Amoxicillin 500 mg",
        "1 capsule, oral, three times a day, for 7 days",
        "21 capsules",
        "Take with food.",
        "Paracetamol 500 mg",
        "Refills: 1",
        "Signature",
        done["verification_code"],
        f"{settings.public_base_url}/verify/{done['verification_code']}",
    ):
        assert expected in text, expected
    assert CANARY not in text  # the diagnosis stays in the record


async def test_who_may_download(
    client: httpx.AsyncClient,
    consultation: MakeConsultation,
    issued: Make,
    write: Make,
    person: MakePerson,
    database: Database,
) -> None:
    visit = await consultation()
    done = await issued(visit)
    path = f"/api/v1/prescriptions/{done['id']}/pdf"
    assert (await client.get(path)).status_code == 401
    stranger = await consultation()
    assert (await client.get(path, headers=stranger.patient.headers)).status_code == 404
    assert (await client.get(path, headers=stranger.doctor.headers)).status_code == 404
    admin = await person(Role.admin)
    allowed = (visit.patient, visit.doctor, admin, visit.patient)
    for who in allowed:
        assert (await client.get(path, headers=who.headers)).status_code == 200

    async with database.transaction() as db:
        downloads = (
            await db.scalars(
                select(AuditEvent).where(
                    AuditEvent.resource_id == done["id"],
                    AuditEvent.action == "prescription.pdf_downloaded",
                )
            )
        ).all()
    assert [event.actor_id for event in downloads] == [who.user.id for who in allowed]

    draft = await write(visit)
    not_issued = await client.get(
        f"/api/v1/prescriptions/{draft['id']}/pdf", headers=visit.doctor.headers
    )
    assert not_issued.status_code == 409
    assert not_issued.json()["code"] == "not_issued"


async def test_not_ready_while_rendering(
    client: httpx.AsyncClient, consultation: MakeConsultation, issued: Make, database: Database
) -> None:
    visit = await consultation()
    done = await issued(visit, render=False)
    answer = await client.get(
        f"/api/v1/prescriptions/{done['id']}/pdf", headers=visit.patient.headers
    )
    assert answer.status_code == 409
    assert answer.json()["code"] == "pdf_not_ready"
    assert answer.headers["retry-after"] == "5"
    async with database.transaction() as db:
        count = await db.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "prescription.pdf_downloaded")
            .where(AuditEvent.resource_id == done["id"])
        )
    assert count == 0


async def test_the_job_deferred_by_the_issue_renders_it(
    client: httpx.AsyncClient,
    consultation: MakeConsultation,
    issued: Make,
    settings: Settings,
    database: Database,
) -> None:
    visit = await consultation()
    done = await issued(visit, render=False)
    await work(settings, database, queue="prescriptions")
    async with database.transaction() as db:
        row = await db.get_one(Prescription, uuid.UUID(done["id"]))
    assert row.pdf_status == "ready"
    assert row.pdf_rendered_at is not None
    answer = await client.get(
        f"/api/v1/prescriptions/{done['id']}/pdf", headers=visit.patient.headers
    )
    assert answer.status_code == 200
    # Rendering again is harmless: nothing left to do.
    assert not await documents.render_and_store(database, settings, row.id)


async def test_the_sweep_finds_pdfs_left_pending(
    consultation: MakeConsultation, issued: Make, database: Database
) -> None:
    visit = await consultation()
    done = await issued(visit, render=False)
    prescription_id = uuid.UUID(done["id"])
    assert prescription_id not in await documents.pending_pdfs(
        database, older_than=tasks.SWEEP_AFTER
    )
    assert prescription_id in await documents.pending_pdfs(database, older_than=timedelta(0))
    # The issue queued its job already: the sweep does not queue a second one.
    assert not await tasks.defer_render(prescription_id)


async def test_a_pdf_lost_from_storage_is_rendered_again(
    client: httpx.AsyncClient,
    consultation: MakeConsultation,
    issued: Make,
    settings: Settings,
    database: Database,
) -> None:
    visit = await consultation()
    done = await issued(visit)
    await storage_for(settings).delete(documents.pdf_key(uuid.UUID(done["id"])))
    path = f"/api/v1/prescriptions/{done['id']}/pdf"
    lost = await client.get(path, headers=visit.patient.headers)
    assert lost.status_code == 409
    assert lost.json()["code"] == "pdf_not_ready"
    assert await documents.render_and_store(database, settings, uuid.UUID(done["id"]))
    assert (await client.get(path, headers=visit.patient.headers)).status_code == 200


class TestVerifyPage:
    async def test_a_valid_prescription(
        self, client: httpx.AsyncClient, consultation: MakeConsultation, issued: Make
    ) -> None:
        visit = await consultation()
        done = await issued(visit)
        code = done["verification_code"]
        for typed in (code, code.lower(), code.replace("-", "")):
            page = await client.get(f"/verify/{typed}")
            assert page.status_code == 200
            assert page.headers["content-type"].startswith("text/html")
            assert 'data-result="valid"' in page.text
            assert code in page.text
            assert visit.doctor.user.name in page.text
            assert done["issued_at"][:4] in page.text
            for private in (
                visit.patient.user.name,
                CANARY,
                "Amoxicillin",
                "Paracetamol",
                "Review in one week",
            ):
                assert private not in page.text
        assert page.headers["cache-control"] == "no-store"

    async def test_a_cancelled_prescription(
        self, client: httpx.AsyncClient, consultation: MakeConsultation, issued: Make
    ) -> None:
        visit = await consultation()
        done = await issued(visit)
        cancelled = await client.post(
            f"/api/v1/prescriptions/{done['id']}/cancel",
            json={"reason": "Allergy"},
            headers=visit.doctor.headers,
        )
        assert cancelled.status_code == 200
        page = await client.get(f"/verify/{done['verification_code']}")
        assert page.status_code == 200
        assert 'data-result="cancelled"' in page.text
        assert "Allergy" not in page.text

    async def test_a_made_up_code_is_not_found(self, client: httpx.AsyncClient) -> None:
        for code in ("ABCD-EFGH-JKMN-PQRS", "nonsense", "x" * 500):
            page = await client.get(f"/verify/{code}")
            assert page.status_code == 404
            assert 'data-result="not_found"' in page.text
