"""A patient signs up, confirms their email from the message written by the server, turns on
two-step sign-in, signs out, and signs back in with a code: all in Chromium."""

from __future__ import annotations

import asyncio
import email
import re
import time
from pathlib import Path

import pyotp
from playwright.async_api import Browser, ConsoleMessage, Page

from tests.factories.live import LiveServer
from tests.factories.notifications import plain_text

PASSWORD = "tidal-compass-meadow-84"


async def wait_for_email(outbox: Path, to: str, timeout: float = 20) -> email.message.Message:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(outbox.glob("*.eml")) if outbox.exists() else []:
            message = email.message_from_bytes(path.read_bytes())
            if message["To"] == to:
                return message
        await asyncio.sleep(0.2)
    raise AssertionError(f"no email to {to} in {outbox}")


async def sign_in(page: Page, server: str, address: str) -> None:
    await page.goto(server + "/signin")
    await page.fill("input[name=email]", address)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("#signin-submit")


async def test_patient_signs_up_verifies_enrols_totp_and_signs_in_again(
    browser: Browser, live_server: LiveServer, artifacts: Path
) -> None:
    page = await browser.new_page(viewport={"width": 1200, "height": 900})
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    address = f"e2e-{int(time.time() * 1000)}@example.org"

    await page.goto(live_server + "/signup")
    await page.fill("input[name=name]", "Amira Haddad")
    await page.fill("input[name=email]", address)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("#signup-submit")
    await page.wait_for_url("**/signin?registered=1")
    assert "confirm your email" in (await page.inner_text(".notice")).lower()

    message = await wait_for_email(live_server.data_dir / "outbox", address)
    link = re.search(r"http\S+/verify-email\?token=[\w-]+", plain_text(message))
    assert link, plain_text(message)
    await page.goto(link.group(0))
    await page.click("#verify-submit")
    assert address in await page.inner_text("#verified")

    await sign_in(page, live_server, address)
    await page.wait_for_url("**/home")  # each role's home, then the account from the menu
    await page.click("#nav-account")
    await page.wait_for_url("**/account")
    assert await page.is_visible("#email-verified")
    await page.click("#mfa-setup")
    secret = (await page.inner_text("#totp-secret")).strip()
    assert await page.locator(".qr svg").count() == 1
    totp = pyotp.TOTP(secret)
    await page.fill("#enable-code", totp.now())
    await page.click("#enable-submit")
    codes = await page.locator("#recovery-codes li").all_inner_texts()
    assert len(codes) == 10
    await page.screenshot(path=str(artifacts / "account-mfa-enabled.png"), full_page=True)

    await page.click("#signout")
    await page.wait_for_url(live_server + "/")
    await sign_in(page, live_server, address)
    await page.wait_for_url("**/signin/mfa**")
    # The enrolment used this step's code, and each code works once: use the next step's.
    await page.fill("#mfa-code", totp.at(time.time() + 30))
    await page.click("#mfa-submit")
    await page.wait_for_url("**/home")
    await page.click("#nav-account")
    await page.wait_for_url("**/account")
    assert "Two-step sign-in is on" in await page.inner_text("#mfa-on")
    await page.screenshot(path=str(artifacts / "account-signed-in-with-mfa.png"), full_page=True)
    assert problems == []
    await page.close()
