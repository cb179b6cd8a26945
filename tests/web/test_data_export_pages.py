"""The patient's "Download my data" page over HTTP: only patients, the request form, the status
fragment htmx polls while the export is prepared, the refusal of a second one shown in words, and
the download once a worker built it (the same service and audit rows as the API's)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from carebridge.accounts.models import Role
from carebridge.compliance.export_models import DataExport
from carebridge.config import Settings
from carebridge.platform.db import Database
from carebridge.platform.jobs import job_app
from tests.factories import MakeUser, work
from tests.factories.web import csrf, sign_in_browser

HTML = {"accept": "text/html"}


@pytest.fixture
async def exports_queue(client: httpx.AsyncClient) -> AsyncIterator[None]:
    yield
    await job_app.connector.execute_query_async(
        "DELETE FROM procrastinate_jobs WHERE queue_name IN ('compliance', 'notifications')"
    )


async def test_only_patients_open_the_page(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    visitor = await client.get("/account/data", headers=HTML)
    assert visitor.status_code == 303
    doctor = await make_user(Role.doctor)
    await sign_in_browser(client, doctor.email)
    assert (await client.get("/account/data", headers=HTML)).status_code == 403


@pytest.mark.usefixtures("exports_queue")
async def test_ask_follow_and_download(
    client: httpx.AsyncClient, make_user: MakeUser, database: Database, settings: Settings
) -> None:
    patient = await make_user(Role.patient)
    await sign_in_browser(client, patient.email)
    account = await client.get("/account", headers=HTML)
    assert 'href="/account/data"' in account.text
    page = await client.get("/account/data", headers=HTML)
    assert page.status_code == 200
    assert 'id="export-request"' in page.text
    assert "export-preparing" not in page.text

    asked = await client.post("/account/data", data={"csrf_token": csrf(page)}, headers=HTML)
    assert asked.status_code == 303
    fragment = await client.get("/account/data/status", headers=HTML)
    assert 'id="export-preparing"' in fragment.text
    assert 'hx-trigger="every 3s"' in fragment.text
    assert "export-request" not in fragment.text

    again = await client.post("/account/data", data={"csrf_token": csrf(page)}, headers=HTML)
    assert again.status_code == 409
    assert "already being prepared" in again.text

    await work(settings, database, queue="exports")
    ready = await client.get("/account/data/status", headers=HTML)
    assert 'id="export-download"' in ready.text
    assert "hx-trigger" not in ready.text
    async with database.transaction() as db:
        row = await db.scalar(select(DataExport).where(DataExport.patient_id == patient.id))
    assert row is not None
    download = await client.get(f"/account/data/{row.id}/download")
    assert download.status_code == 200
    assert "manifest.json" in zipfile.ZipFile(io.BytesIO(download.content)).namelist()
