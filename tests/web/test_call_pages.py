"""The call on the appointment pages over HTTP: "Start the call" for its doctor and "Join the
call" for its patient while its room is open, when it opens before that, nothing once closed;
the doctor's "Waiting for you" list; the pre-call check's servers; and which pages may use the
camera and the microphone (Permissions-Policy)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import update

from carebridge.accounts.models import User
from carebridge.platform.db import Database
from carebridge.scheduling.models import Appointment
from tests.factories.calls import Room
from tests.factories.messaging import heard
from tests.factories.web import Browser, csrf

CALL_LINK = re.compile(
    r'<a href="(/appointments/[0-9a-f-]+/call)"[^>]*data-call-link[^>]*>([^<]+)</a>'
)


def call_links(page: httpx.Response) -> list[tuple[str, str]]:
    assert page.status_code == 200, page.text[:500]
    return CALL_LINK.findall(page.text)


async def _shift(database: Database, appointment_id: str, by: timedelta) -> datetime:
    """Move the appointment (its room with it); answers its new start."""
    async with database.transaction() as db:
        row = await db.get(Appointment, uuid.UUID(appointment_id))
        assert row is not None
        row.starts_at += by
        row.ends_at += by
        row.blocked_until += by
        return row.starts_at


class TestJoinLinks:
    async def test_the_doctor_starts_and_the_patient_joins_while_the_room_is_open(
        self, room: Room, browser: Browser
    ) -> None:
        call = f"/appointments/{room.id}/call"
        doctor = await browser(room.people["doctor"].user)
        patient = await browser(room.people["patient"].user)
        assert call_links(await doctor.get(f"/appointments/{room.id}")) == [
            (call, "Start the call")
        ]
        assert call_links(await patient.get(f"/appointments/{room.id}")) == [
            (call, "Join the call")
        ]
        assert (call, "Join the call") in call_links(await patient.get("/appointments"))
        page = await patient.get(f"/appointments/{room.id}")
        assert 'href="/call-check"' in page.text

    async def test_an_invited_nurse_joins_from_their_appointments_list(
        self, room: Room, browser: Browser
    ) -> None:
        nurse = await browser(room.people["nurse"].user)
        assert call_links(await nurse.get("/appointments")) == []
        await room.ok("doctor", "invite", user_id=str(room.user("nurse")))
        page = await nurse.get("/appointments")
        assert call_links(page) == [(f"/appointments/{room.id}/call", "Join the call")]
        assert room.people["doctor"].user.name in page.text

    async def test_someone_who_is_not_a_member_sees_no_way_in(
        self, room: Room, browser: Browser
    ) -> None:
        # Another patient cannot see the appointment at all; the page is not found.
        other = await browser(room.people["other_patient"].user)
        assert (await other.get(f"/appointments/{room.id}")).status_code == 404
        assert call_links(await other.get("/appointments")) == []

    async def test_before_the_room_opens_the_page_says_when_in_the_readers_zone(
        self, room: Room, browser: Browser, database: Database
    ) -> None:
        patient_user: User = room.people["patient"].user
        async with database.transaction() as db:
            await db.execute(
                update(User).where(User.id == patient_user.id).values(time_zone="Asia/Tokyo")
            )
        starts = await _shift(database, room.id, timedelta(hours=3))
        opens = (starts - timedelta(minutes=10)).astimezone(ZoneInfo("Asia/Tokyo"))
        patient = await browser(patient_user)
        for url in (f"/appointments/{room.id}", "/appointments"):
            page = await patient.get(url)
            assert call_links(page) == []
            assert f"The call opens at {opens:%H:%M}" in page.text, url

    async def test_nothing_once_the_room_is_closed(
        self, room: Room, browser: Browser, database: Database
    ) -> None:
        await _shift(database, room.id, timedelta(hours=-3))  # ended 2.5 hours ago
        patient = await browser(room.people["patient"].user)
        for url in (f"/appointments/{room.id}", "/appointments"):
            page = await patient.get(url)
            assert call_links(page) == []
            assert "The call opens" not in page.text


class TestWaitingList:
    async def test_the_doctor_sees_who_waits_until_admitted(
        self, room: Room, browser: Browser
    ) -> None:
        doctor = await browser(room.people["doctor"].user)
        patient_name = room.people["patient"].user.name
        home = await doctor.get("/home")
        assert 'id="nobody-waiting"' in home.text
        await room.ok("doctor", "join")
        joined = await room.ok("patient", "join")
        assert joined["participant"]["state"] == "waiting"
        admit = f'href="/appointments/{room.id}/call"'
        for url in ("/home", f"/appointments/{room.id}", "/calls/waiting"):
            page = await doctor.get(url)
            assert page.status_code == 200, page.text[:300]
            assert patient_name in page.text, url
            assert admit in page.text, url
            assert "Admit in the call" in page.text, url
        await room.ok("doctor", "admit", participant_id=joined["participant"]["id"])
        for url in ("/home", "/calls/waiting"):
            page = await doctor.get(url)
            assert "Admit in the call" not in page.text
            assert 'id="nobody-waiting"' in page.text

    async def test_one_who_leaves_while_waiting_leaves_the_list_and_the_doctor_is_told(
        self, room: Room, browser: Browser
    ) -> None:
        doctor = await browser(room.people["doctor"].user)
        joined = await room.ok("patient", "join")
        assert "Admit in the call" in (await doctor.get("/calls/waiting")).text
        with heard(f"user.{room.user('doctor')}") as told:
            await room.ok("patient", "leave", participant_id=joined["participant"]["id"])
        assert [data for event, data in told if event == "call.waiting"] == [
            {"appointment_id": room.id, "waiting": []}
        ]
        assert 'id="nobody-waiting"' in (await doctor.get("/calls/waiting")).text

    async def test_only_doctors_read_the_list_and_only_their_own(
        self, room: Room, browser: Browser
    ) -> None:
        await room.ok("patient", "join")
        other_doctor = await browser(room.people["other_doctor"].user)
        page = await other_doctor.get("/calls/waiting")
        assert page.status_code == 200
        assert "Admit in the call" not in page.text
        page = await other_doctor.get(f"/calls/waiting?appointment_id={room.id}")
        assert "Admit in the call" not in page.text
        patient = await browser(room.people["patient"].user)
        assert (await patient.get("/calls/waiting")).status_code == 403


class TestCallCheck:
    async def test_the_servers_are_the_apis_for_a_signed_in_page_with_its_token(
        self, room: Room, browser: Browser
    ) -> None:
        patient = await browser(room.people["patient"].user)
        page = await patient.get("/call-check")
        assert page.status_code == 200
        refused = await patient.post("/call-check/servers")
        assert refused.status_code == 403
        answer = await patient.post("/call-check/servers", headers={"x-csrf-token": csrf(page)})
        assert answer.status_code == 200, answer.text
        api = await room.client.post("/api/v1/calls/check", headers=room.people["patient"].headers)
        assert api.status_code == 200
        mine, theirs = answer.json(), api.json()
        assert (
            set(mine)
            == set(theirs)
            == {
                "ice_servers",
                "ice_transport_policy",
                "credentials_expire_at",
            }
        )
        # The same servers; TURN credentials are made afresh for each answer.
        assert [s["urls"] for s in mine["ice_servers"]] == [
            s["urls"] for s in theirs["ice_servers"]
        ]
        assert mine["ice_transport_policy"] == theirs["ice_transport_policy"]

    async def test_a_visitor_is_sent_to_sign_in(self, client: httpx.AsyncClient) -> None:
        page = await client.get("/call-check", headers={"accept": "text/html"})
        assert page.status_code in (303, 307), page.status_code
        assert "/signin" in page.headers["location"]


class TestPermissionsPolicy:
    async def test_the_check_may_use_camera_and_microphone_the_appointment_page_may_not(
        self, room: Room, browser: Browser
    ) -> None:
        patient = await browser(room.people["patient"].user)
        check = await patient.get("/call-check")
        policy = check.headers["permissions-policy"]
        assert "camera=(self)" in policy
        assert "microphone=(self)" in policy
        for url in (f"/appointments/{room.id}", "/appointments", "/home"):
            page = await patient.get(url)
            assert page.status_code == 200
            policy = page.headers["permissions-policy"]
            assert "camera=()" in policy, url
            assert "microphone=()" in policy, url


class TestTheRecordOnTheAppointmentPage:
    async def test_the_doctor_reads_who_was_in_the_call_and_the_patient_does_not(
        self, room: Room, browser: Browser
    ) -> None:
        doctor = await browser(room.people["doctor"].user)
        patient = await browser(room.people["patient"].user)
        before = await doctor.get(f"/appointments/{room.id}")
        assert 'id="call-record"' not in before.text  # no one joined yet
        waiting = (await room.ok("patient", "join"))["participant"]
        await room.ok("doctor", "join")
        await room.ok("doctor", "admit", participant_id=waiting["id"])
        answer = await room.post(
            "patient",
            "stats",
            participant_id=waiting["id"],
            round_trip_ms=42.0,
            packet_loss=0.015,
            frames_decoded=321,
            relayed=True,
        )
        assert answer.status_code == 204
        await room.ok("patient", "leave")
        page = await doctor.get(f"/appointments/{room.id}")
        assert page.status_code == 200
        record = page.text.split('id="call-record"', 1)[1].split("</section>", 1)[0]
        assert "Relayed through TURN" in record
        rows = record.count('class="call-record-row"')
        assert rows == 2
        assert "42 / 42 ms" in record
        assert "1.5 %" in record
        assert "321" in record
        assert "(left)" in record
        theirs = await patient.get(f"/appointments/{room.id}")
        assert 'id="call-record"' not in theirs.text
