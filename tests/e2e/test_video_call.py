"""Video calls in real browsers, relayed by a real coturn: Chromium with its fake camera and
microphone, a server of its own started with ``CAREBRIDGE_TURN_URLS``/``CAREBRIDGE_TURN_SECRET``
pointing at coturn on loopback and ``CAREBRIDGE_CALL_ICE_TRANSPORT_POLICY=relay`` (so media can
only flow through the relay). The people join through the call page (calls/call.html,
static/js/call.js); what the tests read of the media comes from the pages' own
RTCPeerConnections (``window.carebridgeCall.stats()``: getStats() per peer)."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import (
    Browser,
    ConsoleMessage,
    FilePayload,
    Page,
    expect,
)
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import Role, User, UserStatus
from carebridge.config import Settings
from carebridge.directory.models import DoctorProfile
from carebridge.messaging.models import Conversation
from carebridge.platform.context import CallScope
from carebridge.platform.db import Database
from carebridge.scheduling import schedules
from carebridge.scheduling import service as scheduling
from carebridge.scheduling.models import Appointment, AppointmentType
from carebridge.scheduling.schemas import BookIn, ScheduleIn
from carebridge.video import views
from tests.e2e.world import DESKTOP, browsing, new_user
from tests.factories.live import clean_up, server_env
from tests.factories.messaging import ROUND_THE_CLOCK
from tests.factories.turn import TurnServer
from tests.factories.users import PASSWORD
from tests.factories.webrtc_peer import CallPeer
from tests.helpers import running_server

MEDIA_WAIT = 30.0  # seconds for frames to arrive through the relay (a loaded CI machine)


@pytest.fixture(scope="module")
def call_server(
    database_url: str,
    owner_engine: AsyncEngine,
    coturn: TurnServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """A CareBridge server of its own: its calls' ICE servers are the coturn above, relay
    only."""
    data_dir = tmp_path_factory.mktemp("e2e-call")
    env = server_env(
        database_url,
        data_dir,
        CAREBRIDGE_TURN_URLS=",".join(coturn.urls),
        CAREBRIDGE_TURN_SECRET=coturn.secret,
        CAREBRIDGE_CALL_ICE_TRANSPORT_POLICY="relay",
    )
    with running_server(env, data_dir / "server.log") as (base_url, _):
        yield base_url


@dataclass
class Clinic:
    doctor: User
    patient: User
    nurse: User
    appointment_id: uuid.UUID
    conversation_id: uuid.UUID
    later_id: uuid.UUID  # another video appointment of theirs, in about an hour: not open yet


def _actor(user: User) -> Actor:
    return Actor(user.id, Role(user.role), UserStatus.active, uuid.uuid4())


@pytest.fixture
async def clinic(settings: Settings) -> AsyncIterator[Clinic]:
    """A doctor offering 5-minute video calls around the clock, a patient who booked the next
    one (its room is open now), and a nurse; committed for the server, removed afterwards."""
    database = Database.from_settings(settings)
    tag = uuid.uuid4().hex[:6]
    doctor = new_user(tag, Role.doctor, f"Dr. Vera Video{tag}", "Etc/UTC")
    patient = new_user(tag, Role.patient, f"Paul Caller{tag}", "Etc/UTC")
    nurse = new_user(tag, Role.nurse, f"Nora Nurse{tag}", "Etc/UTC")
    now = datetime.now(UTC)
    async with database.transaction() as db:
        db.add_all([doctor, patient, nurse])
        await db.flush()
        db.add(DoctorProfile(user_id=doctor.id, verified_at=now, bio="Video.", time_zone="UTC"))
        await schedules.put_schedule(db, _actor(doctor), ScheduleIn.model_validate(ROUND_THE_CLOCK))
        free = await schedules.open_slots(
            db, doctor.id, now, now + timedelta(hours=1), AppointmentType.video
        )
        body = BookIn(doctor_id=doctor.id, starts_at=free.slots[0].starts_at, type="video")
        scope = CallScope.system(settings)
        booked = await scheduling.book(db, scope, _actor(patient), body, idempotency_key=None)
        later = await schedules.open_slots(
            db,
            doctor.id,
            now + timedelta(minutes=50),
            now + timedelta(hours=2),
            AppointmentType.video,
        )
        body = BookIn(doctor_id=doctor.id, starts_at=later.slots[0].starts_at, type="video")
        booked_later = await scheduling.book(db, scope, _actor(patient), body, idempotency_key=None)
        conversation_id = await db.scalar(
            select(Conversation.id).where(Conversation.appointment_id == booked.appointment.id)
        )
    assert conversation_id is not None
    yield Clinic(
        doctor, patient, nurse, booked.appointment.id, conversation_id, booked_later.appointment.id
    )

    async def remove(db: AsyncSession) -> None:
        await db.execute(delete(Appointment).where(Appointment.doctor_id == doctor.id))
        await db.execute(delete(User).where(User.id.in_([doctor.id, patient.id, nurse.id])))

    await clean_up(database, remove)
    await database.dispose()


OpenCall = Callable[[User], Awaitable[Page]]


@pytest.fixture
async def open_call(
    media_browser: Browser, call_server: str, settings: Settings, clinic: Clinic
) -> AsyncIterator[OpenCall]:
    """Open the call page in a browser of its own for a person, signed in; the console's CSP
    violations of every page are noted and checked when the test ends."""
    async with AsyncExitStack() as stack:
        violations: list[str] = []

        def note(message: ConsoleMessage) -> None:
            if "Content Security Policy" in message.text:
                violations.append(message.text)

        async def opened(user: User) -> Page:
            page = await stack.enter_async_context(
                browsing(media_browser, call_server, settings, user, DESKTOP)
            )
            page.on("console", note)
            await page.goto(f"{call_server}/appointments/{clinic.appointment_id}/call")
            await truthy(page, "window.carebridgeCall !== undefined")
            return page

        yield opened
        assert violations == []  # every page ran under the CSP without a refusal


async def stats(page: Page) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await page.evaluate("window.carebridgeCall.stats()")
    return found


async def until(
    check: Callable[[], Awaitable[bool]],
    what: str,
    timeout: float = MEDIA_WAIT,
    seen: Callable[[], Awaitable[object]] | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            found = await seen() if seen else ""
            raise AssertionError(f"timed out waiting for {what} {found}")
        await asyncio.sleep(0.1)


async def truthy(page: Page, expression: str, timeout: float = MEDIA_WAIT) -> None:
    """Poll ``expression`` in the page (not ``wait_for_function``: its polling evaluates strings,
    which the page's CSP refuses)."""

    async def check() -> bool:
        return bool(await page.evaluate(expression))

    await until(check, expression, timeout)


async def frames_flow(page: Page, peers: int) -> dict[str, int]:
    """Wait until ``page`` decodes video from ``peers`` peers, each connected, and then until
    every one's count has risen again: media flows. Answers the counts per peer."""

    async def decoding() -> bool:
        found = await stats(page)
        return len(found) == peers and all(
            s["framesDecoded"] > 0 and s["ice"] in ("connected", "completed") for s in found
        )

    await until(decoding, f"video from {peers} peers", seen=lambda: stats(page))
    first = {s["id"]: s["framesDecoded"] for s in await stats(page)}

    async def risen() -> bool:
        now = {s["id"]: s["framesDecoded"] for s in await stats(page)}
        return now.keys() == first.keys() and all(now[k] > first[k] + 5 for k in first)

    await until(risen, "the frame counts to rise")
    return {s["id"]: s["framesDecoded"] for s in await stats(page)}


async def join_as_doctor(page: Page) -> None:
    await page.click("#join-call")
    await expect(page.locator("#hang-up")).to_be_visible()


async def join_and_wait(page: Page) -> None:
    await page.click("#join-call")
    await expect(page.locator("#waiting-note")).to_have_text(
        "Waiting for the doctor — they have been told you are here."
    )


async def admit(doctor: Page, name: str) -> None:
    item = doctor.locator("#waiting-list li", has_text=name)
    await item.locator("button.admit").click()
    await expect(item).to_have_count(0)


async def record_of(settings: Settings, clinic: Clinic) -> dict[str, Any]:
    """What the doctor reads (``GET .../call``: the same service)."""
    database = Database.from_settings(settings)
    try:
        async with database.transaction() as db:
            out = await views.read_call(
                db, CallScope.system(settings), _actor(clinic.doctor), clinic.appointment_id
            )
    finally:
        await database.dispose()
    return out.model_dump(mode="json")


async def call_of_two(open_call: OpenCall, clinic: Clinic) -> tuple[Page, Page]:
    """The doctor opens the page, the patient joins and waits: the doctor sees them in the
    waiting room at once (before joining: Admit waits for that), joins and admits them."""
    doctor = await open_call(clinic.doctor)
    patient = await open_call(clinic.patient)
    await join_and_wait(patient)
    waiting = doctor.locator("#waiting-list li", has_text=clinic.patient.name)
    await expect(waiting.locator("button.admit")).to_be_disabled()
    await join_as_doctor(doctor)
    await admit(doctor, clinic.patient.name)
    await expect(patient.locator("#waiting-note")).to_be_hidden()
    return doctor, patient


async def test_patient_and_doctor_see_each_other_through_the_relay(
    open_call: OpenCall, clinic: Clinic, settings: Settings, coturn: TurnServer
) -> None:
    doctor, patient = await call_of_two(open_call, clinic)
    await frames_flow(doctor, 1)
    await frames_flow(patient, 1)
    for page in (doctor, patient):
        (peer,) = await stats(page)
        assert peer["relayed"] is True  # relay only: the selected pair is a TURN relay
        assert peer["relayPort"] in coturn.relay_ports  # relayed by this coturn
        name = clinic.patient.name if page is doctor else clinic.doctor.name
        await expect(page.locator(".call-tile.remote .tile-name")).to_have_text(name)
        await expect(page.locator("#quality")).to_have_text("good", timeout=10_000)

    async def recorded() -> bool:
        record = (await record_of(settings, clinic))["record"]
        return bool(record["relayed"]) and record["connected_at"] is not None

    await until(recorded, "the doctor's record to say relayed", timeout=15)
    record = (await record_of(settings, clinic))["record"]
    by_user = {p["user_id"]: p for p in record["participants"]}
    assert by_user[str(clinic.patient.id)]["quality"]["frames_decoded"] > 0

    # The conversation beside the video: a message with a file, sent without leaving the call,
    # arrives live on the doctor's page.
    await patient.fill("#message-form textarea", "Can you see my rash?")
    await patient.set_input_files(
        "#message-files",
        files=[
            FilePayload(name="notes.txt", mimeType="text/plain", buffer=b"itchy since Monday\n")
        ],
    )
    await patient.click("#send-message")
    message = doctor.locator("#messages li", has_text="Can you see my rash?")
    await expect(message).to_be_visible()
    await expect(message.locator(".attachment-name")).to_have_text("notes.txt")
    assert patient.url.endswith("/call")
    await expect(patient.locator("#message-form textarea")).to_have_value("")


async def test_an_invited_nurse_joins_as_a_third(open_call: OpenCall, clinic: Clinic) -> None:
    doctor, patient = await call_of_two(open_call, clinic)
    await doctor.select_option("#invite-user", str(clinic.nurse.id))
    await doctor.click("#invite-button")
    await expect(doctor.locator("#call-status")).to_contain_text("Invited")
    nurse = await open_call(clinic.nurse)
    await join_and_wait(nurse)
    await admit(doctor, clinic.nurse.name)
    for page in (doctor, patient, nurse):
        await frames_flow(page, 2)
    names = doctor.locator(".call-tile.remote .tile-name")
    await expect(names).to_have_count(2)
    assert sorted(await names.all_text_contents()) == sorted(
        [clinic.patient.name, clinic.nurse.name]
    )


async def test_a_reload_rejoins_and_media_resumes(open_call: OpenCall, clinic: Clinic) -> None:
    doctor, patient = await call_of_two(open_call, clinic)
    await frames_flow(patient, 1)
    before = await patient.evaluate("window.carebridgeCall.state.me.id")
    await patient.reload()
    await truthy(patient, "window.carebridgeCall.state.me?.state === 'in_call'")
    after = await patient.evaluate("window.carebridgeCall.state.me.id")
    assert after != before  # a new peer, in the call at once (no second wait)
    await expect(patient.locator("#waiting-note")).to_be_hidden()
    flowing = await frames_flow(doctor, 1)
    assert list(flowing) == [after]  # the old peer's connection is gone
    await frames_flow(patient, 1)


async def test_an_ice_restart_keeps_media_flowing(open_call: OpenCall, clinic: Clinic) -> None:
    doctor, patient = await call_of_two(open_call, clinic)
    await frames_flow(doctor, 1)
    await frames_flow(patient, 1)
    # The patient came in last: the pair's offerer, whose restart it is.
    (before,) = await stats(patient)
    await patient.evaluate("window.dispatchEvent(new Event('online'))")

    async def restarted() -> bool:
        (now,) = await stats(patient)
        return now["ufrag"] != before["ufrag"] and now["ice"] in ("connected", "completed")

    await until(restarted, "a new ICE user fragment")
    after = await frames_flow(patient, 1)
    assert after[before["id"]] > before["framesDecoded"]
    await frames_flow(doctor, 1)


async def test_join_to_first_frame(open_call: OpenCall, clinic: Clinic) -> None:
    """Ten calls: the doctor joins, the patient waits, the doctor admits; from the click on
    "Admit" to the first video frame shown on both sides. The doctor ends each call."""
    doctor = await open_call(clinic.doctor)
    patient = await open_call(clinic.patient)
    times = []
    for _ in range(10):
        await join_as_doctor(doctor)  # "Join again" after the first: the call opens again
        await join_and_wait(patient)
        await admit(doctor, clinic.patient.name)
        marks = "window.carebridgeCall.state.marks"
        for page in (doctor, patient):
            await truthy(page, f"{marks}.firstFrame !== undefined")
        admitted = await doctor.evaluate(f"{marks}.admit")
        shown = [await page.evaluate(f"{marks}.firstFrame") for page in (doctor, patient)]
        times.append(max(shown) - admitted)
        await doctor.click("#end-call")
        await expect(patient.locator("#call-status")).to_have_text("The doctor ended the call.")
        await expect(doctor.locator("#complete-panel")).to_be_visible()
        await expect(patient.locator("#join-call")).to_have_text("Join again")
    p50 = statistics.median(times)
    print(
        f"join-to-first-frame p50 {p50:.0f} ms over {len(times)} calls (admit click to the "
        f"first frame on both sides; min {min(times):.0f}, max {max(times):.0f})"
    )
    assert 0 < p50 < 10_000
    # The doctor completes the appointment from the call page (started first, as it was not).
    await doctor.click("#complete-appointment")
    await doctor.wait_for_url(f"**/appointments/{clinic.appointment_id}?done=complete")
    await doctor.goto(doctor.url.split("?")[0] + "/call")
    await expect(doctor.locator("#call-status")).to_have_text(
        "The call is closed: the appointment is over."
    )
    await expect(doctor.locator("#join-call")).to_be_disabled()


async def test_the_call_page_may_use_the_camera_and_others_may_not(
    call_server: str,
    clinic: Clinic,
    open_call: OpenCall,
    media_browser: Browser,
    settings: Settings,
) -> None:
    page = await open_call(clinic.patient)
    cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
    async with httpx.AsyncClient(base_url=call_server, cookies=cookies) as client:
        call = await client.get(f"/appointments/{clinic.appointment_id}/call")
        other = await client.get("/appointments")
    assert call.status_code == other.status_code == 200
    assert "camera=(self)" in call.headers["permissions-policy"]
    assert "microphone=(self)" in call.headers["permissions-policy"]
    assert "camera=()" in other.headers["permissions-policy"]
    assert "microphone=()" in other.headers["permissions-policy"]
    assert "script-src 'self'" in call.headers["content-security-policy"]
    # Not a member (a nurse the doctor did not invite): the 404 page, as if there were no call.
    async with browsing(media_browser, call_server, settings, clinic.nurse, DESKTOP) as nurse:
        answer = await nurse.goto(f"{call_server}/appointments/{clinic.appointment_id}/call")
        assert answer is not None
        assert answer.status == 404
    # A room not open yet says when it opens; the Join button waits for it.
    await page.goto(f"{call_server}/appointments/{clinic.later_id}/call")
    await expect(page.locator("#call-status")).to_contain_text(
        "The call is not open yet: it opens at"
    )
    await expect(page.locator("#join-call")).to_be_disabled()
    # The page's scripts run under that policy: the camera shows in the self view.
    await truthy(page, "document.getElementById('self-view').srcObject?.getVideoTracks().length")


async def test_screen_sharing_and_back_to_the_camera(open_call: OpenCall, clinic: Clinic) -> None:
    doctor, patient = await call_of_two(open_call, clinic)
    await frames_flow(doctor, 1)
    sent = (
        "window.carebridgeCall.state.peers.values().next().value.pc.getSenders()"
        ".find((s) => s.track?.kind === 'video')?.track.label"
    )
    camera = await patient.evaluate(sent)
    await patient.click("#share-screen")
    await expect(patient.locator("#share-screen")).to_have_text("Stop sharing")
    assert await patient.evaluate(sent) != camera
    await frames_flow(doctor, 1)  # the screen reaches the doctor
    await patient.click("#share-screen")
    await expect(patient.locator("#share-screen")).to_have_text("Share screen")
    assert await patient.evaluate(sent) == camera
    await frames_flow(doctor, 1)


async def test_another_microphone_replaces_the_track_sent(
    open_call: OpenCall, clinic: Clinic
) -> None:
    doctor, patient = await call_of_two(open_call, clinic)
    await frames_flow(doctor, 1)
    sent = (
        "window.carebridgeCall.state.peers.values().next().value.pc.getSenders()"
        ".find((s) => s.track?.kind === 'audio')?.track.getSettings().deviceId"
    )
    options = await patient.locator("#microphone-select option").evaluate_all(
        "(options) => options.map((o) => o.value)"
    )
    before = await patient.evaluate(sent)
    assert before in options
    other = next(value for value in options if value != before)
    await patient.select_option("#microphone-select", other)

    async def switched() -> bool:
        return bool(await patient.evaluate(sent) == other)

    await until(switched, "the other microphone on the connection", timeout=10)
    await frames_flow(doctor, 1)


async def test_a_python_peer_and_a_browser_see_each_other(
    open_call: OpenCall, clinic: Clinic, call_server: str
) -> None:
    """The protocol is CareBridge's, not call.js's: the patient is an aiortc peer
    (tests/factories/webrtc_peer.py) using only the API and the WebSocket; the doctor is the
    browser page. Both receive the other's video, through the relay."""
    async with httpx.AsyncClient(base_url=call_server) as client:
        login = await client.post(
            "/api/v1/auth/login", json={"email": clinic.patient.email, "password": PASSWORD}
        )
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    doctor = await open_call(clinic.doctor)
    await join_as_doctor(doctor)
    peer = CallPeer(call_server, headers, clinic.appointment_id, name="aiortc patient")
    try:
        joined = await peer.join()
        assert joined["participant"]["state"] == "waiting"
        assert joined["ice_transport_policy"] == "relay"
        await admit(doctor, clinic.patient.name)
        flowing = await frames_flow(doctor, 1)  # the browser decodes the Python peer's video
        assert list(flowing) == [peer.peer_id]
        (seen,) = await stats(doctor)
        assert seen["relayed"] is True
        doctor_peer = await doctor.evaluate("window.carebridgeCall.state.me.id")
        assert await peer.frames_from(doctor_peer, 30, timeout=MEDIA_WAIT) >= 30
    finally:
        await peer.close()
