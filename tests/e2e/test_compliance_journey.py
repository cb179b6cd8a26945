"""Issue 21's acceptance in Chromium, against the live server: a patient who accepted version 1
of the terms signs in after version 2 was published; the app asks for it before anything else;
they read it, accept and reach their home page. They ask for a copy of their data, watch it being
prepared, download the ZIP and find their account in it. They ask for their account to be erased,
see when, and keep it after all. An administrator then filters the audit viewer by that patient
and finds each of those steps on the trail. Screenshots in test-artifacts/; the documents are
removed afterwards so no other browser test is asked."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.models import Role, User, UserStatus
from carebridge.compliance.consent_models import ConsentDocument, ConsentEvent
from carebridge.config import Settings
from carebridge.governance.erasure_models import ErasureRequest
from carebridge.platform.db import Database
from tests.factories.live import LiveServer, clean_up, new_user
from tests.factories.users import PASSWORD, PASSWORD_HASH

ALL_ROLES = ["patient", "doctor", "nurse", "admin"]


def terms(version: int, body: str) -> ConsentDocument:
    return ConsentDocument(
        kind="terms_of_service",
        version=version,
        title=f"Terms of service, version {version}",
        body=body,
        roles=ALL_ROLES,
        requires_reacceptance=True,
        acceptance_from=version,
        published_at=datetime.now(UTC),
    )


@dataclass
class People:
    patient: User  # accepted version 1 of the terms only
    admin: User  # accepted version 2


@pytest.fixture
async def people(settings: Settings) -> AsyncIterator[People]:
    """A patient who accepted version 1 of the terms; version 2 is published (and accepted by
    the administrator, who is not stopped)."""
    database = Database.from_settings(settings)
    async with database.transaction() as db:
        if await db.scalar(select(ConsentDocument.id).limit(1)) is not None:
            pytest.fail("consent documents left in the shared database by another test")
        patient = User(
            email=f"consent-{uuid.uuid4().hex[:8]}@example.org",
            name="Noor Consent",
            role=Role.patient,
            status=UserStatus.active,
            password_hash=PASSWORD_HASH,
            email_verified_at=datetime.now(UTC),
        )
        admin = new_user(uuid.uuid4().hex[:6], Role.admin, "Ada Audit", "UTC")
        first = terms(1, "Use CareBridge for care.")
        second = terms(2, "Use CareBridge for care.\n\nNew: video visits may be recorded.")
        db.add_all([patient, admin, first, second])
        await db.flush()
        db.add_all(
            ConsentEvent(
                user_id=who.id,
                document_id=document.id,
                kind=document.kind,
                version=document.version,
                action="accepted",
            )
            for who, document in ((patient, first), (admin, second))
        )
    yield People(patient, admin)

    async def remove(db: AsyncSession) -> None:
        await db.execute(delete(ErasureRequest).where(ErasureRequest.patient_id == patient.id))
        # Their consent rows, exports and notifications go with them.
        await db.execute(delete(User).where(User.id.in_([patient.id, admin.id])))
        await db.execute(delete(ConsentEvent))
        await db.execute(delete(ConsentDocument))

    await clean_up(database, remove)
    await database.dispose()


async def _accept_new_terms(page: Page, server: str, artifacts: Path) -> None:
    await page.wait_for_url("**/consents?next=*")
    assert await page.inner_text("h1") == "Before you continue"
    document = await page.inner_text("#document-terms_of_service")
    assert "Version 2" in document
    assert "video visits may be recorded" in document
    await page.wait_for_load_state("networkidle")  # the bell's fragment was asked for
    assert "Before you continue" not in await page.inner_text("header")
    await page.screenshot(path=str(artifacts / "consent-new-terms.png"), full_page=True)

    # Another page still waits for the answer.
    await page.goto(server + "/records")
    await page.wait_for_url("**/consents?next=*")

    await page.click("#consent-accept")
    await page.wait_for_url("**/records")
    await page.goto(server + "/home")
    await page.wait_for_url("**/home")
    assert "/consents" not in page.url
    await page.screenshot(path=str(artifacts / "consent-accepted-home.png"), full_page=True)
    await page.goto(server + "/account/consents")
    assert "accepted version 2" in await page.inner_text("#consent-terms_of_service")


async def _download_my_data(page: Page, server: str, patient: User, artifacts: Path) -> None:
    await page.goto(server + "/account")
    await page.click("#data-export-link")
    await expect(page.locator("h1")).to_have_text("Download my data")
    await page.click("#export-request")
    # Prepared by the server's worker; htmx polls the status until it is ready.
    await expect(page.locator("#export-download")).to_be_visible(timeout=30_000)
    await expect(page.locator("#export-ready")).to_contain_text("can be downloaded until")
    await page.screenshot(path=str(artifacts / "data-export-ready.png"), full_page=True)
    async with page.expect_download() as waiting:
        await page.click("#export-download")
    download = await waiting.value
    assert download.suggested_filename.endswith(".zip")
    archive = zipfile.ZipFile(io.BytesIO(Path(await download.path()).read_bytes()))
    assert {"manifest.json", "accounts.json", "consents.json", "summary.pdf"} <= set(
        archive.namelist()
    )
    assert json.loads(archive.read("accounts.json"))["account"]["email"] == patient.email
    answers = json.loads(archive.read("consents.json"))["answers"]
    assert sorted(a["version"] for a in answers if a["action"] == "accepted") == [1, 2]


async def _erase_then_keep(page: Page, server: str, artifacts: Path) -> None:
    await page.goto(server + "/account")
    await page.click("#erasure-link")
    await expect(page.locator("h1")).to_have_text("Delete my account")
    await expect(page.locator("#erasure-held")).to_contain_text("medical record")
    await page.click("#erasure-ask-button")
    await expect(page.locator("#erasure-notice")).to_contain_text("scheduled to be erased")
    await expect(page.locator("#erasure-due")).to_be_visible()
    await page.screenshot(path=str(artifacts / "erasure-scheduled.png"), full_page=True)
    await page.click("#erasure-cancel")
    await expect(page.locator("#erasure-notice")).to_contain_text("will not be erased")
    await expect(page.locator("#erasure-ask-button")).to_be_visible()


async def _admin_finds_it_on_the_trail(
    browser: Browser, server: str, people: People, artifacts: Path
) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    try:
        await page.goto(server + "/signin?next=/admin/audit")
        await page.fill("input[name=email]", people.admin.email)
        await page.fill("input[name=password]", PASSWORD)
        await page.click("#signin-submit")
        await page.wait_for_url("**/admin/audit")
        await page.fill("#audit-subject", people.patient.email)
        await page.click("#audit-submit")
        table = page.locator("#audit-events")
        for action in (
            "consent.accepted",
            "export.requested",
            "export.downloaded",
            "erasure.requested",
            "erasure.cancelled",
        ):
            await expect(table).to_contain_text(action)
        await page.screenshot(
            path=str(artifacts / "admin-audit-patient-journey.png"), full_page=True
        )
    finally:
        await context.close()


async def test_terms_export_erasure_and_the_trail(
    browser: Browser, live_server: LiveServer, artifacts: Path, people: People
) -> None:
    context = await browser.new_context(viewport={"width": 1100, "height": 900})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        await page.goto(live_server + "/signin?next=/home")
        await page.fill("input[name=email]", people.patient.email)
        await page.fill("input[name=password]", PASSWORD)
        await page.click("#signin-submit")
        await _accept_new_terms(page, live_server, artifacts)
        await _download_my_data(page, live_server, people.patient, artifacts)
        await _erase_then_keep(page, live_server, artifacts)
    finally:
        await context.close()
    assert errors == []
    await _admin_finds_it_on_the_trail(browser, live_server, people, artifacts)
