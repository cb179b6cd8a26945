"""A conversation in two browsers: the patient opens a thread from the doctor's page, the doctor
sees the patient typing and the message arriving live, read as it arrives while the conversation
is in view (the patient sees it "seen"); one sent while the doctor is elsewhere raises the
inbox badge, which clears when the doctor opens the conversation. A photo sent with the
picker arrives live with its thumbnail and saves without its metadata, while the doctor's menu
counts it on another page (and the tab's title says it); older messages come in as the doctor
scrolls up. Screenshots in test-artifacts/."""

from __future__ import annotations

import io
import re
import uuid
from pathlib import Path

from PIL import Image
from playwright.async_api import Locator, Page, expect

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import User
from carebridge.config import Settings
from carebridge.messaging import service
from carebridge.messaging.schemas import ConversationIn, MessageIn
from carebridge.platform.context import CallScope
from carebridge.platform.db import Database
from tests.e2e.world import DESKTOP, Browse, World
from tests.factories import files as make
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
        # The doctor has the conversation in view: it is read as it arrives, no reload.
        seen = patient.locator("#messages li [data-seen]")
        await expect(seen).to_have_text("· seen", timeout=15_000)
        await expect(badge).to_be_hidden(timeout=15_000)
        await doctor.screenshot(path=str(artifacts / "conversation-doctor.png"), full_page=True)

        await doctor.goto(f"{live_server}/home")  # away from the conversation
        await patient.fill("#message-form textarea", "It itches at night")
        await patient.click("#send-message")
        await patient.wait_for_load_state()
        await expect(seen).to_have_count(2)
        await expect(badge).to_have_text("1", timeout=15_000)
        await expect(seen.last).to_have_text("")
        await inbox.screenshot(path=str(artifacts / "conversation-inbox.png"), full_page=True)

        await doctor.goto(thread)  # opening the conversation reads it
        await expect(badge).to_be_hidden(timeout=15_000)
        await expect(seen.last).to_have_text("· seen", timeout=15_000)
        await patient.screenshot(path=str(artifacts / "conversation-patient.png"), full_page=True)


def photo_with_exif() -> bytes:
    """A PNG carrying a camera's EXIF (an ``eXIf`` chunk), as a phone might send it."""
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0110] = "Phone 12"  # Model
    return make.encode(make.picture(64, 48), "PNG", exif=exif.tobytes())


async def live(page: Page) -> None:
    await expect(page.locator("#live-state")).to_have_text("Live", timeout=15_000)


async def test_a_photo_arrives_live_and_the_menu_counts_it(
    world: World, browse: Browse, live_server: LiveServer, artifacts: Path
) -> None:
    async with (
        browse(world.patient) as patient,
        browse(world.doctor, DESKTOP) as doctor,
        browse(world.doctor, DESKTOP) as elsewhere,
    ):
        await patient.goto(f"{live_server}/doctors/{world.doctor.id}")
        await patient.click("#message-doctor button")
        await patient.wait_for_url("**/conversations/*")
        thread = patient.url.split("#")[0]
        await doctor.goto(f"{live_server}/conversations")  # not the conversation: unread
        await live(patient)
        async with elsewhere.expect_websocket() as opened:
            await elsewhere.goto(f"{live_server}/doctor/schedule")
        socket = await opened.value
        await socket.wait_for_event("framereceived", lambda p: '"subscribed"' in str(p))
        badge = elsewhere.locator("#messages-unread")
        await expect(badge).to_be_hidden()
        title = await elsewhere.title()

        await send_photo(patient, "This is the rash", "rash.png", photo_with_exif())
        await expect(badge).to_have_text("1", timeout=15_000)
        await expect(elsewhere).to_have_title(f"(1) {title}")
        await elsewhere.screenshot(path=str(artifacts / "conversation-menu-count.png"))

        await doctor.goto(thread)  # opening the conversation reads it
        await live(doctor)
        await expect(badge).to_be_hidden(timeout=15_000)
        await expect(elsewhere).to_have_title(title)
        arrived = doctor.locator("#messages li.message")
        await expect(arrived).to_have_count(1)
        await expect_photo(arrived.nth(0), "rash.png")
        async with doctor.expect_download() as downloading:
            await arrived.nth(0).locator(".attachment-file").click()
        download = await downloading.value
        assert download.suggested_filename == "rash.png"
        saved = Path(await download.path()).read_bytes()
        assert saved.startswith(b"\x89PNG\r\n\x1a\n")
        assert b"eXIf" not in saved
        assert b"PhoneMaker" not in saved
        assert not Image.open(io.BytesIO(saved)).getexif()

        # A second photo while the doctor has the conversation open: drawn live by the page's
        # script, with its thumbnail, and read as it arrives.
        await send_photo(patient, "And today", "today.png", photo_with_exif())
        await expect(arrived).to_have_count(2, timeout=15_000)
        await expect_photo(arrived.nth(1), "today.png")
        # Its time is written as the server writes the first one's, in the doctor's zone.
        written = [await m.locator("small.muted").first.inner_text() for m in await arrived.all()]
        shape = re.compile(r"^\w{3} \d{2} \w{3} \d{4}, \d{2}:\d{2} \S+")
        assert all(shape.match(text) for text in written), written
        await doctor.screenshot(path=str(artifacts / "conversation-photo.png"), full_page=True)
        await expect(patient.locator("#messages li [data-seen]").last).to_have_text(
            "· seen", timeout=15_000
        )
        await expect(badge).to_be_hidden(timeout=15_000)


async def send_photo(page: Page, text: str, name: str, data: bytes) -> None:
    await page.fill("#message-form textarea", text)
    await page.set_input_files(
        "#message-files", files=[{"name": name, "mimeType": "image/png", "buffer": data}]
    )
    await page.click("#send-message")
    await page.wait_for_url("**#latest")
    await page.wait_for_load_state()


async def expect_photo(message: Locator, name: str) -> None:
    thumbnail = message.locator(".attachment img")
    await expect(thumbnail).to_be_visible()
    await expect(thumbnail).to_have_js_property("complete", True)
    assert await thumbnail.evaluate("image => image.naturalWidth") == 64
    await expect(message.locator(".attachment-name")).to_have_text(name)


async def seeded(settings: Settings, patient: User, doctor: User, count: int) -> uuid.UUID:
    """A care thread of ``patient`` with ``doctor`` holding ``count`` messages (through the
    service, committed for the live server)."""
    database = Database.from_settings(settings)
    scope = CallScope.system(settings)
    actor = Actor(patient.id, patient.role, patient.status, uuid.uuid4())
    try:
        async with database.transaction() as db:
            body = ConversationIn(doctor_id=doctor.id)
            thread = await service.open_care_thread(db, scope, actor, body)
            for n in range(1, count + 1):
                line = MessageIn(client_id=uuid.uuid4(), text=f"Line {n}")
                await service.send(db, scope, actor, thread.id, line)
    finally:
        await database.dispose()
    return thread.id


async def test_older_messages_come_in_as_the_reader_scrolls_up(
    world: World, browse: Browse, live_server: LiveServer, settings: Settings, artifacts: Path
) -> None:
    thread = await seeded(settings, world.patient, world.doctor, 110)
    async with browse(world.doctor) as doctor:
        await doctor.goto(f"{live_server}/conversations/{thread}#latest")
        await live(doctor)
        shown = doctor.locator("#messages li.message")
        await expect(shown).to_have_count(50)
        first = doctor.locator("#message-61")
        await doctor.evaluate("window.scrollTo({ top: 400, behavior: 'instant' })")
        before = await first.evaluate("item => item.getBoundingClientRect().top")
        await doctor.evaluate("window.scrollTo({ top: 100, behavior: 'instant' })")
        await expect(shown).to_have_count(100, timeout=10_000)
        after = await first.evaluate("item => item.getBoundingClientRect().top")
        assert abs(after - before - 300) < 5, (before, after)  # no jump: moved by the scroll only
        await doctor.screenshot(path=str(artifacts / "conversation-older.png"))

        await doctor.focus("#older")  # the keyboard's way: "Show older messages"
        await doctor.keyboard.press("Enter")
        await expect(shown).to_have_count(110, timeout=10_000)
        await expect(doctor.locator("#message-1 .message-text")).to_have_text("Line 1")
        await expect(doctor.locator("#older")).to_have_count(0)  # nothing older is left
        state = doctor.locator("#older-state")
        await expect(state).to_contain_text("10 older messages shown")
        await expect(state).to_be_focused()
