"""Every place that shows a doctor's status follows it live: a patient has the doctor's page, the
directory results and the home (doctors online now, doctors followed) open in three tabs; the
doctor's status changes through the API (busy, then offline), and every badge changes without
a reload."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
from playwright.async_api import Browser, Locator, Page, WebSocket, expect

from carebridge.accounts.models import User
from tests.factories import PASSWORD
from tests.factories.live import LiveServer, signed_in


def connected(page: Page) -> asyncio.Event:
    """Set when the page's socket has subscribed to the user's own topic, right after it
    opened: a status change from then on reaches the page by the socket alone (as an event,
    or in the snapshot of a subscription it was made before)."""
    subscribed = asyncio.Event()

    def on_frame(payload: str | bytes) -> None:
        frame = json.loads(payload)
        if frame.get("type") == "subscribed" and str(frame.get("topic")).startswith("user."):
            subscribed.set()

    def on_socket(socket: WebSocket) -> None:
        socket.on("framereceived", on_frame)

    page.on("websocket", on_socket)
    return subscribed


async def set_status(server: str, doctor: User, status: str) -> None:
    async with httpx.AsyncClient(base_url=server) as api:
        login = await api.post(
            "/api/v1/auth/login", json={"email": doctor.email, "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        answer = await api.put(
            "/api/v1/doctors/me/status", json={"status": status}, headers=headers
        )
        assert answer.status_code == 200, answer.text


def badge_next_to(rows: Locator, link: str) -> Locator:
    """The status badge of the row with the link to the doctor, as a person finds it."""
    return rows.filter(has=rows.page.locator(link)).locator(".presence-badge")


async def open_live(page: Page, url: str) -> None:
    socket = connected(page)
    await page.goto(url)
    await asyncio.wait_for(socket.wait(), timeout=10)


async def test_every_status_badge_follows_the_doctor_without_a_reload(
    browser: Browser,
    live_server: LiveServer,
    doctor_and_patient: tuple[User, User],
    artifacts: Path,
) -> None:
    doctor, patient = doctor_and_patient
    tag = doctor.name.rsplit(" ", 1)[-1]
    await set_status(live_server, doctor, "online")
    context, profile = await signed_in(browser, live_server, patient)
    errors: list[str] = []
    try:
        await profile.goto(f"{live_server}/doctors/{doctor.id}")
        await profile.click("#follow")
        await expect(profile.locator("#unfollow")).to_be_visible()
        directory, home = await context.new_page(), await context.new_page()
        for page in (profile, directory, home):
            page.on("pageerror", lambda error: errors.append(str(error)))
        await open_live(profile, f"{live_server}/doctors/{doctor.id}")
        await open_live(directory, f"{live_server}/doctors?q={tag}")
        await open_live(home, f"{live_server}/home")

        link = f'a[href="/doctors/{doctor.id}"]'
        online_now = home.locator("#online-doctors li").filter(has=home.locator(link))
        badges: list[Locator] = [
            profile.locator("#presence-status"),
            badge_next_to(directory.locator(".doctor-card"), link),
            badge_next_to(home.locator("#online-doctors li"), link),
            badge_next_to(
                home.locator("section", has_text="Doctors you follow").locator("li"), link
            ),
        ]
        for each in badges:
            await expect(each).to_have_text("Online now")

        await set_status(live_server, doctor, "busy")
        for each in badges:
            await expect(each).to_have_text("In a consultation", timeout=5_000)
        await directory.screenshot(path=str(artifacts / "presence-badges-directory-busy.png"))

        await set_status(live_server, doctor, "offline")
        for each in (badges[0], badges[1], badges[3]):
            await expect(each).to_have_text("Offline", timeout=5_000)
        await expect(online_now).to_have_count(0)
        await profile.screenshot(path=str(artifacts / "presence-badges-doctor-offline.png"))
        await home.screenshot(path=str(artifacts / "presence-badges-home-offline.png"))
        assert errors == []
    finally:
        await context.close()
