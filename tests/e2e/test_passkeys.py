"""Passkeys in Chromium, with the DevTools protocol's virtual authenticators (the WebAuthn
domain) standing in for a laptop and a phone: a patient adds two passkeys on the account page,
signs in with one alone, takes the second step after the password with the other, and a copy of
a passkey whose counter went back is refused.

Passkeys need a domain name (a relying party cannot be an IP address), so these tests run their
own server at ``http://localhost:<port>``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, CDPSession, ConsoleMessage, Page

from carebridge.accounts.models import User
from tests.factories.live import LiveServer, server_env
from tests.factories.users import PASSWORD
from tests.helpers import running_server

VIEWPORT = {"width": 1200, "height": 900}
AUTHENTICATOR = {
    "protocol": "ctap2",
    "transport": "internal",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
    "automaticPresenceSimulation": True,
}


@pytest.fixture(scope="module")
def localhost_server(
    database_url: str, owner_engine: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("e2e-passkeys")
    env = server_env(database_url, data_dir, CAREBRIDGE_IN_PROCESS_WORKER="false")
    with running_server(env, data_dir / "server.log", host_name="localhost") as (base_url, _):
        yield LiveServer(base_url, data_dir)


class Device:
    """A browser context (its own cookies) with one virtual authenticator."""

    def __init__(self, context: BrowserContext, page: Page, cdp: CDPSession, authenticator: str):
        self.context, self.page, self.cdp, self.authenticator = context, page, cdp, authenticator
        self.problems: list[str] = []

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                self.problems.append(message.text)

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.problems.append(str(error)))

    async def credentials(self) -> list[dict[str, Any]]:
        found = await self.cdp.send(
            "WebAuthn.getCredentials", {"authenticatorId": self.authenticator}
        )
        credentials: list[dict[str, Any]] = found["credentials"]
        return credentials


async def device(browser: Browser, *credentials: dict[str, Any]) -> Device:
    context = await browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    page = await context.new_page()
    cdp = await context.new_cdp_session(page)
    await cdp.send("WebAuthn.enable", {"enableUI": False})
    added = await cdp.send("WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR})
    authenticator = added["authenticatorId"]
    for credential in credentials:
        await cdp.send(
            "WebAuthn.addCredential", {"authenticatorId": authenticator, "credential": credential}
        )
    return Device(context, page, cdp, authenticator)


@pytest.fixture
async def devices(browser: Browser) -> AsyncIterator[list[Device]]:
    made: list[Device] = []
    yield made
    for each in made:
        await each.context.close()


async def password_sign_in(page: Page, server: str, user: User) -> None:
    await page.goto(server + "/signin")
    await page.fill("input[name=email]", user.email)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("#signin-submit")


async def add_passkey(page: Page, server: str, name: str) -> None:
    await page.goto(server + "/account#passkeys")
    await page.fill("#passkey-name", name)
    await page.fill("#passkey-password", PASSWORD)
    async with page.expect_navigation():
        await page.click("#add-passkey")


async def test_passkeys_added_used_alone_as_second_step_and_a_copy_refused(
    browser: Browser,
    localhost_server: LiveServer,
    doctor_and_patient: tuple[User, User],
    devices: list[Device],
    artifacts: Path,
) -> None:
    server = localhost_server
    _, patient = doctor_and_patient

    # A laptop: signed in with the password, it adds the first passkey (recovery codes once).
    laptop = await device(browser)
    devices.append(laptop)
    await password_sign_in(laptop.page, server, patient)
    await laptop.page.wait_for_url("**/home")
    await add_passkey(laptop.page, server, "Work laptop")
    assert await laptop.page.locator("#recovery-codes li").count() == 10
    laptop_key = (await laptop.credentials())[0]
    assert laptop_key["isResidentCredential"] is True
    assert laptop_key["rpId"] == "localhost"

    # The same browser, another authenticator (a phone): the second passkey.
    await laptop.cdp.send(
        "WebAuthn.removeVirtualAuthenticator", {"authenticatorId": laptop.authenticator}
    )
    added = await laptop.cdp.send("WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR})
    laptop.authenticator = added["authenticatorId"]
    await add_passkey(laptop.page, server, "Phone")
    assert "Passkey “Phone” added." in await laptop.page.inner_text("main")
    names = await laptop.page.locator("#passkey-list input[name=name]").evaluate_all(
        "inputs => inputs.map(i => i.value)"
    )
    assert names == ["Work laptop", "Phone"]
    await laptop.page.locator("#passkeys").scroll_into_view_if_needed()
    await laptop.page.screenshot(path=str(artifacts / "account-two-passkeys.png"), full_page=True)
    phone_key = (await laptop.credentials())[0]
    assert laptop.problems == []

    # Another browser holding the phone's passkey signs in with it alone: no email, no password.
    phone = await device(browser, phone_key)
    devices.append(phone)
    await phone.page.goto(server + "/signin")
    await phone.page.click("#passkey-signin")
    await phone.page.wait_for_url("**/home")
    await phone.page.goto(server + "/account")
    assert patient.email in await phone.page.inner_text("main")
    assert phone.problems == []

    # A copy of the phone's passkey as it was before that sign-in: its counter went back.
    copy = await device(browser, phone_key)
    devices.append(copy)
    await copy.page.goto(server + "/signin")
    await copy.page.click("#passkey-signin")
    await copy.page.wait_for_url("**/signin/passkey")
    refusal = await copy.page.inner_text("[role=alert]")
    assert "counter went backwards" in refusal
    await copy.page.screenshot(path=str(artifacts / "passkey-copy-refused.png"), full_page=True)

    # The password now needs a second step: the laptop's passkey.
    second = await device(browser, laptop_key)
    devices.append(second)
    await password_sign_in(second.page, server, patient)
    await second.page.wait_for_url("**/signin/mfa**")
    await second.page.click("#passkey-mfa")
    await second.page.wait_for_url("**/home")
    assert second.problems == []
