"""The call of a video appointment through the API: who may join and when (refusals first), the
waiting room, admitting, rejoining after a reload, leaving, ending for everyone, the doctor's
presence while in a call, quality reports and the record the doctor reads, inviting a nurse,
the silence sweep and the room closing when the appointment is completed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import time_machine
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import select

from carebridge.app import create_app
from carebridge.compliance.models import AuditEvent
from carebridge.config import Settings
from carebridge.notifications.models import Notification
from carebridge.platform.db import Database
from carebridge.platform.errors import Conflict
from carebridge.presence.models import DoctorPresence
from carebridge.scheduling.models import Appointment
from carebridge.video import policy, service
from tests.factories.apps import serving
from tests.factories.calls import Room
from tests.factories.messaging import book_soon, heard

ACTIONS = ("join", "admit", "leave", "end", "stats", "invite")


async def _status(database: Database, doctor_id: uuid.UUID) -> str | None:
    async with database.transaction() as db:
        return await db.scalar(
            select(DoctorPresence.status).where(DoctorPresence.doctor_id == doctor_id)
        )


async def _in_call(room: Room) -> tuple[dict[str, Any], dict[str, Any]]:
    """The patient waits, the doctor starts and admits them: both peers."""
    patient = await room.ok("patient", "join")
    doctor = await room.ok("doctor", "join")
    await room.ok("doctor", "admit", participant_id=patient["participant"]["id"])
    return patient["participant"], doctor["participant"]


class TestWhoMayJoin:
    async def test_anonymous_callers_are_refused(self, room: Room) -> None:
        for action in ACTIONS:
            answer = await room.client.post(f"{room.url}/{action}", json={})
            assert answer.status_code == 401, (action, answer.text)
        assert (await room.client.get(room.url)).status_code == 401

    async def test_people_outside_the_call_find_nothing(self, room: Room) -> None:
        for who in ("other_patient", "other_doctor", "nurse", "admin"):
            for action in ("join", "leave"):
                answer = await room.post(who, action)
                assert answer.status_code == 404, (who, action, answer.text)
            found = await room.client.get(room.url, headers=room.people[who].headers)
            assert found.status_code == 404, who
        answer = await room.post("other_doctor", "admit", participant_id=str(uuid.uuid4()))
        assert answer.status_code == 404

    async def test_the_patient_cannot_run_the_call(self, room: Room) -> None:
        for action, body in (
            ("admit", {"participant_id": str(uuid.uuid4())}),
            ("end", {}),
            ("invite", {"user_id": str(room.user("nurse"))}),
        ):
            answer = await room.post("patient", action, **body)
            assert answer.status_code == 403, (action, answer.text)

    async def test_before_the_room_opens_the_answer_says_when(self, room: Room) -> None:
        starts = datetime.fromisoformat(room.appointment["starts_at"])
        with time_machine.travel(starts - timedelta(minutes=11), tick=True):
            answer = await room.post("patient", "join")
        assert answer.status_code == 409
        problem = answer.json()
        assert problem["code"] == "call_not_open"
        assert datetime.fromisoformat(problem["opens_at"]) == starts - timedelta(minutes=10)
        assert "10 minutes before" in problem["detail"]
        with time_machine.travel(starts - timedelta(minutes=9), tick=True):
            assert (await room.post("patient", "join")).status_code == 200

    async def test_after_the_grace_the_room_is_closed(
        self, room: Room, database: Database, settings: Settings
    ) -> None:
        ends = datetime.fromisoformat(room.appointment["ends_at"])
        async with database.transaction() as db:
            appointment = await db.get(Appointment, uuid.UUID(room.id))
        assert appointment is not None
        policy.check_open(settings, appointment, ends + timedelta(minutes=29))
        with pytest.raises(Conflict) as closed:
            policy.check_open(settings, appointment, ends + timedelta(minutes=30))
        assert closed.value.error_code == "call_closed"

    async def test_a_chat_appointment_has_no_call(
        self, client: httpx.AsyncClient, room: Room
    ) -> None:
        chat = await book_soon(
            client, room.user("doctor"), room.people["other_patient"].headers, "chat"
        )
        answer = await client.post(
            f"/api/v1/appointments/{chat['id']}/call/join",
            headers=room.people["other_patient"].headers,
        )
        assert (answer.status_code, answer.json()["code"]) == (409, "not_a_video_appointment")

    async def test_bad_bodies_get_a_clear_422(self, room: Room) -> None:
        await room.ok("patient", "join")
        for action, body in (
            ("admit", {"participant_id": "not-a-uuid"}),
            ("stats", {"participant_id": str(uuid.uuid4()), "packet_loss": 2}),
            ("stats", {"participant_id": str(uuid.uuid4()), "round_trip_ms": -1}),
            ("leave", {"participant_id": str(uuid.uuid4()), "extra": 1}),
        ):
            answer = await room.post("doctor" if action == "admit" else "patient", action, **body)
            assert answer.status_code == 422, (action, answer.text)


class TestTheWaitingRoom:
    async def test_the_patient_waits_and_the_doctor_is_told(
        self, room: Room, database: Database
    ) -> None:
        doctor_topic = f"user.{room.user('doctor')}"
        with heard(doctor_topic) as told, heard(f"call.{room.id}") as room_events:
            joined = await room.ok("patient", "join")
        me = joined["participant"]
        assert me["state"] == "waiting"
        assert joined["topics"] == [f"call.{room.id}", f"call.{room.id}.{me['id']}"]
        waiting = [data for event, data in told if event == "call.waiting"]
        assert [p["id"] for p in waiting[-1]["waiting"]] == [me["id"]]
        assert ("participant.waiting", me) in [(e, d) for e, d in room_events]
        async with database.transaction() as db:
            notice = await db.scalar(
                select(Notification).where(
                    Notification.recipient_id == room.user("doctor"),
                    Notification.kind == "call_waiting",
                )
            )
        assert notice is not None
        assert notice.link == f"/appointments/{room.id}/call"

    async def test_the_doctor_admits_and_both_are_in_the_call(self, room: Room) -> None:
        patient, doctor = await _in_call(room)
        assert doctor["state"] == "in_call"
        seen = await room.read("patient")
        assert {p["id"]: p["state"] for p in seen["participants"]} == {
            patient["id"]: "in_call",
            doctor["id"]: "in_call",
        }
        assert seen["you"]["id"] == patient["id"]
        assert seen["record"] is None  # the doctor's to read

    async def test_admitting_someone_not_waiting_is_refused(self, room: Room) -> None:
        patient, _ = await _in_call(room)
        answer = await room.post("doctor", "admit", participant_id=patient["id"])
        assert (answer.status_code, answer.json()["code"]) == (409, "not_waiting")

    async def test_a_reload_rejoins_without_waiting_again(self, room: Room) -> None:
        patient, _ = await _in_call(room)
        with heard(f"call.{room.id}") as events:
            again = (await room.ok("patient", "join"))["participant"]
        assert again["state"] == "in_call"
        assert again["id"] != patient["id"]
        left = [d for e, d in events if e == "participant.left"]
        assert left == [
            {
                "participant_id": patient["id"],
                "user_id": str(room.user("patient")),
                "reason": "rejoined",
            }
        ]
        live = [p["id"] for p in (await room.read("doctor"))["participants"]]
        assert patient["id"] not in live
        assert again["id"] in live


class TestPresence:
    async def test_the_doctor_is_busy_in_the_call_and_back_after(
        self, room: Room, database: Database
    ) -> None:
        online = await room.client.put(
            "/api/v1/doctors/me/status",
            json={"status": "online"},
            headers=room.people["doctor"].headers,
        )
        assert online.status_code == 200
        await _in_call(room)
        assert await _status(database, room.user("doctor")) == "busy"
        await room.ok("doctor", "join")  # a reload keeps them busy, and remembers "online"
        assert await _status(database, room.user("doctor")) == "busy"
        await room.ok("doctor", "leave")
        assert await _status(database, room.user("doctor")) == "online"


class TestLeavingAndEnding:
    async def test_leaving_twice_is_refused(self, room: Room) -> None:
        await room.ok("patient", "join")
        await room.ok("patient", "leave")
        answer = await room.post("patient", "leave")
        assert (answer.status_code, answer.json()["code"]) == (409, "not_in_call")

    async def test_the_doctor_ends_the_call_for_everyone(
        self, room: Room, database: Database
    ) -> None:
        await _in_call(room)
        with heard(f"call.{room.id}") as events:
            ended = await room.ok("doctor", "end")
        assert ended["participants"] == []
        assert ended["ended_at"] is not None
        names = [e for e, _ in events]
        assert names.count("participant.left") == 2
        assert "call.ended" in names
        again = await room.post("patient", "join")
        assert (again.status_code, again.json()["code"]) == (409, "call_ended")
        assert (await room.post("doctor", "end")).json()["code"] == "call_not_running"
        # The doctor may start it again; then the patient may join.
        await room.ok("doctor", "join")
        assert (await room.post("patient", "join")).status_code == 200
        async with database.transaction() as db:
            actions = set(
                await db.scalars(select(AuditEvent.action).where(AuditEvent.resource_id == room.id))
            )
        assert {"call.joined", "call.admitted", "call.ended"} <= actions

    async def test_completing_the_appointment_closes_the_room(self, room: Room) -> None:
        await _in_call(room)
        for move in ("start", "complete"):
            answer = await room.client.post(
                f"/api/v1/appointments/{room.id}/{move}", headers=room.people["doctor"].headers
            )
            if move == "start" and answer.status_code == 409:
                continue  # already in progress
            assert answer.status_code == 200, answer.text
        seen = await room.read("doctor")
        assert seen["participants"] == []
        assert seen["open"] is False
        assert {p["left_reason"] for p in seen["record"]["participants"]} == {"closed"}
        answer = await room.post("patient", "join")
        assert (answer.status_code, answer.json()["code"]) == (409, "call_closed")


class TestTheRecord:
    async def test_quality_reports_sum_up_in_the_doctors_record(
        self, room: Room, database: Database
    ) -> None:
        patient, _doctor = await _in_call(room)
        for rtt, loss, frames in ((40.0, 0.0, 100), (60.0, 0.02, 250)):
            answer = await room.post(
                "patient",
                "stats",
                participant_id=patient["id"],
                round_trip_ms=rtt,
                packet_loss=loss,
                frames_decoded=frames,
                relayed=True,
            )
            assert answer.status_code == 204, answer.text
        someone_else = await room.post("doctor", "stats", participant_id=patient["id"])
        assert (someone_else.status_code, someone_else.json()["code"]) == (409, "not_in_call")
        record = (await room.read("doctor"))["record"]
        assert record["relayed"] is True
        assert record["connected_at"] is not None
        entry = next(p for p in record["participants"] if p["id"] == patient["id"])
        assert entry["quality"] == {
            "samples": 2,
            "round_trip_ms_avg": 50.0,
            "round_trip_ms_max": 60.0,
            "packet_loss_max": 0.02,
            "frames_decoded": 250,
            "relayed": True,
        }
        async with database.transaction() as db:
            read = await db.scalar(
                select(AuditEvent.action).where(
                    AuditEvent.resource_id == room.id, AuditEvent.action == "call.record_read"
                )
            )
        assert read == "call.record_read"


class TestInvitingANurse:
    async def test_the_nurse_joins_waits_and_reads_the_conversation(self, room: Room) -> None:
        before = await room.post("nurse", "join")
        assert before.status_code == 404
        await room.ok("doctor", "invite", user_id=str(room.user("nurse")))
        again = await room.post("doctor", "invite", user_id=str(room.user("nurse")))
        assert again.json()["code"] == "already_member"
        themselves = await room.post("doctor", "invite", user_id=str(room.user("doctor")))
        assert (themselves.status_code, themselves.json()["code"]) == (409, "already_member")
        other = await room.post("doctor", "invite", user_id=str(room.user("other_patient")))
        assert (other.status_code, other.json()["code"]) == (422, "not_a_clinician")
        nurse = (await room.ok("nurse", "join"))["participant"]
        assert nurse["state"] == "waiting"
        await room.ok("doctor", "admit", participant_id=nurse["id"])
        conversations = await room.client.get(
            "/api/v1/conversations", headers=room.people["nurse"].headers
        )
        assert room.id in conversations.text


class TestTheSilenceSweep:
    async def test_silent_members_are_taken_out_and_the_doctor_is_given_back(
        self, room: Room, database: Database, settings: Settings
    ) -> None:
        patient, _doctor = await _in_call(room)
        await room.post("patient", "stats", participant_id=patient["id"])
        later = datetime.now(UTC) + timedelta(seconds=settings.call_silent_seconds + 1)
        async with database.transaction() as db:
            taken = await service.sweep(db, settings, later)
        assert taken == 2
        seen = await room.read("doctor")
        assert seen["participants"] == []
        assert {p["left_reason"] for p in seen["record"]["participants"]} == {"gone"}
        assert await _status(database, room.user("doctor")) == "offline"
        async with database.transaction() as db:
            assert await service.sweep(db, settings, later) == 0


class TestTurnCredentials:
    async def test_join_hands_out_credentials_that_lapse_with_the_room(
        self, room: Room, settings: Settings, database: Database
    ) -> None:
        secret = "a-turn-secret-of-the-clinic-0001"
        configured = settings.model_copy(
            update={
                "turn_urls": ["turn:turn.clinic.example:3478"],
                "stun_urls": ["stun:turn.clinic.example:3478"],
                "turn_secret": SecretStr(secret),
            }
        )
        app: FastAPI = create_app(configured, database=database)
        async with serving(app) as client:
            answer = await client.post(f"{room.url}/join", headers=room.people["patient"].headers)
        assert answer.status_code == 200, answer.text
        joined = answer.json()
        stun, turn = joined["ice_servers"]
        assert stun == {
            "urls": ["stun:turn.clinic.example:3478"],
            "username": None,
            "credential": None,
        }
        expiry, user = turn["username"].split(":")
        assert user == str(room.user("patient"))
        closes = datetime.fromisoformat(joined["call"]["closes_at"])
        assert int(expiry) == int(closes.timestamp())
        assert datetime.fromisoformat(joined["credentials_expire_at"]) == closes
        digest = hmac.new(secret.encode(), turn["username"].encode(), hashlib.sha1).digest()
        assert turn["credential"] == base64.b64encode(digest).decode()

    async def test_without_turn_servers_no_credential_is_made(self, room: Room) -> None:
        joined = await room.ok("patient", "join")
        assert joined["ice_servers"] == []
