"""A visitor narrows the doctor search by fee in the clinic's currency, typed as people write
money ("50"), and reads the fees the same way: no cents anywhere."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.models import Role, User
from carebridge.config import Settings
from carebridge.directory.models import DoctorProfile
from carebridge.platform.db import Database
from tests.factories.live import LiveServer, clean_up, new_user


@pytest.fixture
async def two_doctors(settings: Settings) -> AsyncIterator[str]:
    """Two listed doctors who share a word no one else has: 45.00 EUR and 65.00 EUR."""
    database = Database.from_settings(settings)
    word = "zq" + uuid.uuid4().hex[:10]
    users = [
        new_user(f"{word}-{name.lower()}", Role.doctor, f"Dr. {name} {word}", "Europe/Berlin")
        for name in ("Cheap", "Dear")
    ]
    async with database.transaction() as db:
        db.add_all(users)
        await db.flush()
        for user, fee in zip(users, (4500, 6500), strict=True):
            db.add(
                DoctorProfile(
                    user_id=user.id,
                    verified_at=datetime.now(UTC),
                    bio="Family doctor.",
                    languages=["en"],
                    consultation_fee=fee,
                )
            )
    yield word

    async def remove(db: AsyncSession) -> None:
        await db.execute(delete(User).where(User.id.in_([u.id for u in users])))

    await clean_up(database, remove)
    await database.dispose()


async def test_a_visitor_filters_by_fee_in_euros(
    browser: Browser, live_server: LiveServer, two_doctors: str, artifacts: object
) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        await page.goto(f"{live_server}/doctors")
        fee = page.get_by_label("Fee up to (EUR)")
        await expect(fee).to_be_visible()
        await page.fill("#search-q", two_doctors)
        cards = page.locator("#doctor-list .doctor-card")
        await expect(cards).to_have_count(2)
        await expect(cards.filter(has_text="Dr. Cheap")).to_contain_text("45.00 EUR")
        await expect(cards.filter(has_text="Dr. Dear")).to_contain_text("65.00 EUR")

        await fee.fill("50")  # typed as people write money, filtered as the clinic charges
        await expect(page.locator("#fee-filter")).to_have_text("Fees up to 50.00 EUR")
        await expect(cards).to_have_count(1)
        await expect(cards.first).to_contain_text(f"Dr. Cheap {two_doctors}")

        await fee.fill("65")
        await expect(cards).to_have_count(2)
        await page.screenshot(path="test-artifacts/doctor-search-fee.png", full_page=True)
        assert "cents" not in (await page.content()).lower()
        languages = await page.locator("#filter-language option").all_inner_texts()
        assert "English" in languages
        assert "Abkhazian" not in languages  # only what listed doctors speak
        assert errors == []
    finally:
        await context.close()
