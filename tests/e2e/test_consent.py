"""A patient who accepted version 1 of the terms signs in after version 2 was published: the
app asks for it before anything else; they read it, accept, and reach their home page. In
Chromium, against the live server; the documents are removed afterwards so no other browser
test is asked."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.async_api import Browser
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.models import Role, User, UserStatus
from carebridge.compliance.consent_models import ConsentDocument, ConsentEvent
from carebridge.config import Settings
from carebridge.platform.db import Database
from tests.factories.live import LiveServer, clean_up
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


@pytest.fixture
async def patient_with_old_terms(settings: Settings) -> AsyncIterator[User]:
    """A patient who accepted version 1 of the terms; version 2 is published."""
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
        first = terms(1, "Use CareBridge for care.")
        db.add_all([patient, first])
        await db.flush()
        db.add(
            ConsentEvent(
                user_id=patient.id,
                document_id=first.id,
                kind="terms_of_service",
                version=1,
                action="accepted",
            )
        )
        db.add(terms(2, "Use CareBridge for care.\n\nNew: video visits may be recorded."))
    yield patient

    async def remove(db: AsyncSession) -> None:
        await db.execute(delete(User).where(User.id == patient.id))  # its consent rows go too
        await db.execute(delete(ConsentEvent))
        await db.execute(delete(ConsentDocument))

    await clean_up(database, remove)
    await database.dispose()


async def test_a_patient_accepts_the_new_terms_before_anything_else(
    browser: Browser, live_server: LiveServer, artifacts: Path, patient_with_old_terms: User
) -> None:
    context = await browser.new_context(viewport={"width": 1100, "height": 900})
    page = await context.new_page()
    try:
        await page.goto(live_server + "/signin?next=/home")
        await page.fill("input[name=email]", patient_with_old_terms.email)
        await page.fill("input[name=password]", PASSWORD)
        await page.click("#signin-submit")
        await page.wait_for_url("**/consents?next=*")
        assert await page.inner_text("h1") == "Before you continue"
        document = await page.inner_text("#document-terms_of_service")
        assert "Version 2" in document
        assert "video visits may be recorded" in document
        await page.wait_for_load_state("networkidle")  # the bell's fragment was asked for
        assert "Before you continue" not in await page.inner_text("header")
        await page.screenshot(path=str(artifacts / "consent-new-terms.png"), full_page=True)

        # Another page still waits for the answer.
        await page.goto(live_server + "/records")
        await page.wait_for_url("**/consents?next=*")

        await page.click("#consent-accept")
        await page.wait_for_url("**/records")
        await page.goto(live_server + "/home")
        await page.wait_for_url("**/home")
        assert "/consents" not in page.url
        await page.screenshot(path=str(artifacts / "consent-accepted-home.png"), full_page=True)

        await page.goto(live_server + "/account/consents")
        assert "accepted version 2" in await page.inner_text("#consent-terms_of_service")
    finally:
        await context.close()
