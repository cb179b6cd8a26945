"""The doctor's "Waiting for you" list is live: the doctor's home is open, a patient joins the
room of their video appointment (through the API, as a call page or an app does) and the home
shows them without a reload; once admitted, or gone, they leave the list."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.async_api import Page, expect
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.models import User
from carebridge.config import Settings
from carebridge.platform.db import Database
from carebridge.scheduling.models import Appointment
from tests.e2e.world import DESKTOP, Browse
from tests.factories import PASSWORD
from tests.factories.live import LiveServer, clean_up


def subscribed(page: Page) -> asyncio.Event:
    """Set once the page's socket has subscribed to the person's own topic."""
    done = asyncio.Event()

    def on_frame(payload: str | bytes) -> None:
        frame = json.loads(payload)
        if frame.get("type") == "subscribed" and str(frame.get("topic")).startswith("user."):
            done.set()

    page.on("websocket", lambda socket: socket.on("framereceived", on_frame))
    return done


@asynccontextmanager
async def api_as(server: str, user: User) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server) as api:
        login = await api.post(
            "/api/v1/auth/login", json={"email": user.email, "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        api.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        yield api


@pytest.fixture
async def video_now(
    settings: Settings, doctor_and_patient: tuple[User, User]
) -> AsyncIterator[Appointment]:
    """A confirmed video appointment of the doctor and the patient starting in two minutes:
    its room is open."""
    doctor, patient = doctor_and_patient
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=2)
    appointment = Appointment(
        id=uuid.uuid4(),
        doctor_id=doctor.id,
        patient_id=patient.id,
        type="video",
        status="scheduled",
        starts_at=starts,
        ends_at=starts + timedelta(minutes=30),
        blocked_until=starts + timedelta(minutes=30),
        time_zone="UTC",
        fee=0,
        confirmed_at=datetime.now(UTC),
    )
    database = Database.from_settings(settings)
    async with database.transaction() as db:
        db.add(appointment)
    yield appointment

    async def remove(db: AsyncSession) -> None:
        await db.execute(delete(Appointment).where(Appointment.id == appointment.id))

    await clean_up(database, remove)
    await database.dispose()


async def test_the_doctors_home_shows_who_waits_live(
    browse: Browse,
    live_server: LiveServer,
    doctor_and_patient: tuple[User, User],
    video_now: Appointment,
) -> None:
    doctor, patient = doctor_and_patient
    call = f"/appointments/{video_now.id}/call"
    async with browse(doctor, DESKTOP) as page:
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        socket = subscribed(page)
        await page.goto(live_server + "/home")
        await asyncio.wait_for(socket.wait(), timeout=10)
        waiting = page.locator("#call-waiting-list li")
        await expect(waiting).to_have_count(0)
        await expect(page.locator("#nobody-waiting")).to_be_visible()

        async with (
            api_as(live_server, patient) as patient_api,
            api_as(live_server, doctor) as doctor_api,
        ):
            joined = await patient_api.post(f"/api/v1{call}/join")
            assert joined.status_code == 200, joined.text
            assert joined.json()["participant"]["state"] == "waiting"

            # No reload: the doctor's topic brought the change.
            await expect(waiting).to_have_count(1, timeout=10_000)
            await expect(waiting).to_contain_text(patient.name)
            await expect(waiting).to_contain_text(f"appointment at {video_now.starts_at:%H:%M}")
            await expect(waiting.get_by_role("button", name="Admit in the call")).to_have_attribute(
                "href", call
            )

            admitted = await doctor_api.post(
                f"/api/v1{call}/admit", json={"participant_id": joined.json()["participant"]["id"]}
            )
            assert admitted.status_code == 200, admitted.text
            await expect(waiting).to_have_count(0, timeout=10_000)

            # Out, back in the waiting room, then gone before being let in.
            assert (await patient_api.post(f"/api/v1{call}/leave", json={})).status_code == 200
            again = await patient_api.post(f"/api/v1{call}/join")
            assert again.json()["participant"]["state"] == "waiting"
            await expect(waiting).to_have_count(1, timeout=10_000)
            assert (await patient_api.post(f"/api/v1{call}/leave", json={})).status_code == 200
            await expect(waiting).to_have_count(0, timeout=10_000)
            await expect(page.locator("#nobody-waiting")).to_be_visible()
        assert errors == []
