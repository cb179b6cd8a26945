"""A conversation in two browsers: the patient opens a thread from the doctor's page, the doctor
sees the patient typing and the message arriving live, and the patient sees it "seen" once the
doctor has read it, while the doctor's inbox badge rises and clears. Screenshots in
test-artifacts/."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import expect

from tests.e2e.world import Browse, World
from tests.factories.live import LiveServer


async def test_live_delivery_typing_and_seen(
    world: World, browse: Browse, live_server: LiveServer, artifacts: Path
) -> None:
    async with (
        browse(world.patient) as patient,
        browse(world.doctor) as doctor,
        browse(world.doctor) as inbox,
    ):
        await patient.goto(f"{live_server}/doctors/{world.doctor.id}")
        await patient.click("#message-doctor button")
        await patient.wait_for_url("**/conversations/*")
        await expect(patient.locator("#live-state")).to_have_text("Live", timeout=15_000)
        thread = patient.url.split("#")[0]

        await doctor.goto(thread)
        await expect(doctor.locator("#live-state")).to_have_text("Live", timeout=15_000)

        async with inbox.expect_websocket() as opened:
            await inbox.goto(f"{live_server}/conversations")
        socket = await opened.value
        await socket.wait_for_event(  # the inbox follows user.<id> from here on
            "framereceived", lambda payload: '"subscribed"' in str(payload)
        )
        badge = inbox.locator(".unread-badge")
        await expect(badge).to_be_hidden()

        await patient.fill("#message-form textarea", "The rash is spreading")
        await expect(doctor.locator("#typing")).to_have_text("Typing…", timeout=10_000)
        await patient.click("#send-message")
        await patient.wait_for_load_state()
        await expect(doctor.locator("#messages li")).to_have_count(1, timeout=15_000)
        await expect(doctor.locator("#messages li .message-text")).to_have_text(
            "The rash is spreading"
        )
        await expect(doctor.locator("#messages li strong")).to_have_text(world.patient.name)
        await expect(patient.locator("#live-state")).to_have_text("Live", timeout=15_000)
        await expect(patient.locator("#messages li [data-seen]")).to_have_text("")
        await doctor.screenshot(path=str(artifacts / "conversation-doctor.png"), full_page=True)

        await expect(badge).to_have_text("1", timeout=15_000)
        await inbox.screenshot(path=str(artifacts / "conversation-inbox.png"), full_page=True)

        await doctor.reload()  # opening the conversation reads it
        await expect(badge).to_be_hidden(timeout=15_000)
        await expect(patient.locator("#messages li [data-seen]")).to_have_text(
            "· seen", timeout=15_000
        )
        await patient.screenshot(path=str(artifacts / "conversation-patient.png"), full_page=True)
