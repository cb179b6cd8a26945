"""A patient takes their data with them (issue 21's export, in a phone's browser): from their
account to "Download my data", asks for an export, watches it being prepared (the page updates
itself), downloads the ZIP and finds their account in it. Screenshot in test-artifacts/."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from playwright.async_api import expect

from tests.e2e.world import Browse, World
from tests.factories.live import LiveServer


async def test_a_patient_asks_for_their_data_and_downloads_it(
    browse: Browse, world: World, live_server: LiveServer, artifacts: Path
) -> None:
    errors: list[str] = []
    async with browse(world.patient) as page:
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(f"{live_server}/account")
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
        saved = Path(await download.path())
        archive = zipfile.ZipFile(io.BytesIO(saved.read_bytes()))
        assert {"manifest.json", "accounts.json", "scheduling.json", "summary.pdf"} <= set(
            archive.namelist()
        )
        account = json.loads(archive.read("accounts.json"))["account"]
        assert account["email"] == world.patient.email
        appointments = json.loads(archive.read("scheduling.json"))["appointments"]
        assert appointments, "the world's appointments are the patient's"
    assert errors == []
