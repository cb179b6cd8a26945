"""One currency per clinic (CAREBRIDGE_CURRENCY): doctors set a fee, not a currency; people read
and type fees in major units ("up to 50.00 EUR"), never cents; the language filter lists the
languages the listed doctors speak."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from carebridge.accounts.models import Role
from carebridge.app import create_app
from carebridge.config import Settings
from carebridge.platform.db import Database
from carebridge.platform.migrate import MigrationRefused, upgrade
from tests.factories import SignIn, serving
from tests.factories.databases import fresh_database
from tests.factories.directory import MakeDoctor, tag
from tests.factories.web import csrf, sign_in_browser

DOCTOR = "/api/v1/doctors/me/profile"


def options(page: httpx.Response, select_id: str) -> list[str]:
    """The visible names of a select's options, "Any" aside."""
    select = re.search(rf'<select[^>]*id="{select_id}"[^>]*>(.*?)</select>', page.text, re.S)
    assert select, page.text[:2000]
    names = re.findall(r"<option[^>]*>([^<]*)</option>", select.group(1))
    return [name for name in names if name != "Any"]


class TestOneCurrency:
    async def test_a_doctor_sets_a_fee_in_the_clinics_currency(
        self, client: httpx.AsyncClient, sign_in: SignIn
    ) -> None:
        doctor = await sign_in(Role.doctor)
        body = {"consultation_fee": 4500, "time_zone": "Europe/Berlin"}
        saved = await client.put(DOCTOR, json=body, headers=doctor.headers)
        assert saved.status_code == 200, saved.text
        assert (saved.json()["consultation_fee"], saved.json()["currency"]) == (4500, "EUR")
        same = await client.put(DOCTOR, json={**body, "currency": "eur"}, headers=doctor.headers)
        assert same.status_code == 200, same.text
        other = await client.put(DOCTOR, json={**body, "currency": "GBP"}, headers=doctor.headers)
        assert other.status_code == 422
        assert other.json()["code"] == "wrong_currency"
        assert "EUR" in other.json()["detail"]
        no_fee = await client.put(DOCTOR, json={"time_zone": "UTC"}, headers=doctor.headers)
        assert (no_fee.json()["consultation_fee"], no_fee.json()["currency"]) == (None, None)

    async def test_a_clinic_in_yen_shows_yen(
        self, settings: Settings, database: Database, make_doctor: MakeDoctor
    ) -> None:
        word = tag()
        doctor = await make_doctor(f"Dr. Yen {word}", fee=5000)
        yen = settings.model_copy(update={"currency": "JPY"})
        async with serving(create_app(yen, database=database)) as client:
            listed = (await client.get("/api/v1/doctors", params={"q": word})).json()["items"]
            assert [(d["consultation_fee"], d["currency"]) for d in listed] == [(5000, "JPY")]
            page = await client.get(f"/doctors/{doctor.id}")
            assert "5000 JPY" in page.text
            search = await client.get("/doctors")
            assert "Fee up to (JPY)" in search.text


class TestSearchForm:
    async def test_fees_are_filtered_in_major_units(
        self, client: httpx.AsyncClient, make_doctor: MakeDoctor
    ) -> None:
        word = tag()
        await make_doctor(f"Dr. Cheap {word}", fee=4500)
        await make_doctor(f"Dr. Dear {word}", fee=6500)
        form = await client.get("/doctors")
        assert "Fee up to (EUR)" in form.text
        assert "cents" not in form.text
        found = await client.get("/doctors/results", params={"q": word, "fee_up_to": "50"})
        assert f"Dr. Cheap {word}" in found.text
        assert f"Dr. Dear {word}" not in found.text
        assert "up to 50.00 EUR" in found.text
        assert "45.00 EUR" in found.text
        exact = await client.get("/doctors/results", params={"q": word, "fee_up_to": "65.00"})
        assert f"Dr. Dear {word}" in exact.text
        page = await client.get("/doctors", params={"q": word, "fee_up_to": "50"})
        assert 'name="fee_up_to"' in page.text
        assert 'value="50"' in page.text  # the form keeps what was typed
        for wrong in ("fifty", "-5", "50.001"):
            bad = await client.get("/doctors/results", params={"q": word, "fee_up_to": wrong})
            assert 'id="search-error"' in bad.text, wrong
            assert "Fee up to: an amount such as 50.00" in bad.text, bad.text

    async def test_the_language_filter_lists_the_languages_of_listed_doctors(
        self, client: httpx.AsyncClient, make_doctor: MakeDoctor
    ) -> None:
        await make_doctor(f"Dr. Igbo {tag()}", languages=["ig", "en"])
        await make_doctor(f"Dr. Hidden {tag()}", languages=["kl"], verified=False)
        page = await client.get("/doctors")
        languages = options(page, "filter-language")
        assert {"Igbo", "English"} <= set(languages)
        assert "Kalaallisut" not in languages  # only an unlisted doctor speaks it
        assert "Abkhazian" not in languages  # nobody does
        assert languages == sorted(languages)


async def test_the_doctor_types_the_fee_in_major_units(
    client: httpx.AsyncClient, make_doctor: MakeDoctor
) -> None:
    doctor = await make_doctor(f"Dr. Form {tag()}", fee=5000)
    await sign_in_browser(client, doctor.email)
    page = await client.get("/doctor/profile")
    assert "Consultation fee (EUR)" in page.text
    assert 'name="consultation_fee"' in page.text
    assert 'value="50.00"' in page.text
    assert 'name="currency"' not in page.text
    form = {
        "csrf_token": csrf(page),
        "consultation_fee": "45.50",
        "license_number": "LIC-0001",  # the same: the profile stays verified
        "time_zone": "Europe/Berlin",
    }
    saved = await client.post("/doctor/profile", data=form)
    assert saved.status_code == 200, saved.text
    assert 'value="45.50"' in saved.text
    listed = await client.get(f"/api/v1/doctors/{doctor.id}")
    assert listed.json()["consultation_fee"] == 4550
    bad = await client.post("/doctor/profile", data={**form, "consultation_fee": "45.505"})
    assert bad.status_code == 422
    assert "Consultation fee: an amount such as 50.00" in bad.text


class TestTheMigration:
    """0016_clinic_currency, on databases written when each doctor chose a currency."""

    @staticmethod
    async def fees_after(
        server_url: str, fees: dict[str, tuple[int, str]], clinic: str | None
    ) -> dict[str, int | None]:
        """Doctors named by key with (fee, currency) at 0014, their fees after migrating."""
        with fresh_database(server_url) as url:
            engine = create_async_engine(make_url(url).set(drivername="postgresql+asyncpg"))
            try:
                await upgrade(engine, "0015_ratings_from_reviews")
                async with engine.begin() as conn:  # written as the schema of 0014 is
                    for name, (fee, currency) in fees.items():
                        await conn.execute(
                            text(
                                "WITH u AS (INSERT INTO users (email, name, role, status, "
                                "password_hash) VALUES (:email, :name, 'doctor', 'active', 'x') "
                                "RETURNING id) INSERT INTO doctor_profiles (user_id, "
                                "consultation_fee, currency) SELECT id, :fee, :currency FROM u"
                            ),
                            {"email": f"{name}@m.example", "name": name, "fee": fee,
                             "currency": currency},
                        )  # fmt: skip
                await upgrade(engine, clinic_currency=clinic)
                async with engine.connect() as conn:
                    rows = await conn.execute(
                        text(
                            "SELECT u.name, p.consultation_fee FROM doctor_profiles p "
                            "JOIN users u ON u.id = p.user_id"
                        )
                    )
                    return {str(name): fee for name, fee in rows}
            finally:
                await engine.dispose()

    async def test_fees_in_the_clinics_currency_stay_and_others_are_cleared(
        self, postgres_server_url: str
    ) -> None:
        fees = {"euro": (4500, "EUR"), "pound": (5200, "GBP"), "yen": (8000, "JPY")}
        after = await self.fees_after(postgres_server_url, fees, "EUR")
        assert after == {"euro": 4500, "pound": None, "yen": None}

    async def test_a_forgotten_setting_changes_nothing(self, postgres_server_url: str) -> None:
        fees = {"one": (9000, "USD"), "two": (8500, "USD")}
        with pytest.raises(MigrationRefused, match="2 in USD, none in EUR"):
            await self.fees_after(postgres_server_url, fees, "EUR")
        after = await self.fees_after(postgres_server_url, fees, "USD")
        assert after == {"one": 9000, "two": 8500}
