"""A chat appointment held in its conversation: the conversation shows its appointment (status,
times, whether the reader may start or complete it now, by scheduling's rules); starting and
completing through the appointment routes are shown live (``session.changed``); completing a
chat closes its conversation (still readable), completing a video call does not; a no-show or a
cancellation leaves it open for the doctor to close."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import time_machine
from sqlalchemy import select

from carebridge.compliance.models import AuditEvent
from carebridge.platform.db import Database
from tests.factories.messaging import ROUND_THE_CLOCK, Talk, book_soon, heard
from tests.factories.users import TokenFor


async def _session(talk: Talk, who: str) -> dict[str, Any]:
    answer = await talk.client.get(talk.url, headers=talk.people[who].headers)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def _move(talk: Talk, move: str, who: str = "doctor", **body: Any) -> httpx.Response:
    return await talk.client.post(
        f"/api/v1/appointments/{talk.appointment_id}/{move}",
        json=body or None,
        headers=talk.people[who].headers,
    )


def _changes(events: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [data["status"] for event, data in events if event == "session.changed"]


class TestTheSessionInTheConversation:
    async def test_each_member_sees_the_appointment_and_what_they_may_do(self, chat: Talk) -> None:
        patient = (await _session(chat, "patient"))["session"]
        assert patient["type"] == "chat"
        assert patient["status"] == "scheduled"
        assert datetime.fromisoformat(patient["ends_at"]) - datetime.fromisoformat(
            patient["starts_at"]
        ) == timedelta(minutes=5)
        assert (patient["may_start"], patient["may_complete"]) == (False, False)
        assert patient["start_possible_from"] is None
        doctor = (await _session(chat, "doctor"))["session"]
        assert (doctor["may_start"], doctor["may_complete"]) == (True, False)
        admin = (await _session(chat, "admin"))["session"]
        assert admin["status"] == "scheduled"
        assert (admin["may_start"], admin["may_complete"]) == (False, False)

    async def test_a_start_not_yet_possible_says_from_when(self, talk: Talk) -> None:
        doctor = (await _session(talk, "doctor"))["session"]
        assert (doctor["type"], doctor["may_start"]) == ("video", False)
        opens = datetime.fromisoformat(doctor["starts_at"]) - timedelta(minutes=10)
        assert datetime.fromisoformat(doctor["start_possible_from"]) == opens

    async def test_a_nurse_in_the_conversation_sees_it_and_may_not_move_it(
        self, chat: Talk
    ) -> None:
        nurse = {"user_id": str(chat.people["nurse"].user.id)}
        added = await chat.client.post(
            f"{chat.url}/members", json=nurse, headers=chat.people["doctor"].headers
        )
        assert added.status_code == 200, added.text
        session = (await _session(chat, "nurse"))["session"]
        assert (session["status"], session["may_start"]) == ("scheduled", False)

    async def test_a_care_thread_holds_no_appointment(self, chat: Talk) -> None:
        opened = await chat.client.post(
            "/api/v1/conversations",
            json={"doctor_id": str(chat.people["doctor"].user.id)},
            headers=chat.people["patient"].headers,
        )
        assert opened.status_code == 201, opened.text
        assert opened.json()["session"] is None


class TestStartAndComplete:
    async def test_both_members_see_the_moves_live_and_completing_closes_the_chat(
        self, chat: Talk, database: Database
    ) -> None:
        await chat.sent("patient", "Hello doctor")
        with heard(f"conversation.{chat.id}") as events:
            started = await _move(chat, "start")
        assert started.status_code == 200, started.text
        assert _changes(events) == ["in_progress"]
        [(_, data)] = events
        assert data["appointment_id"] == chat.appointment_id
        assert set(data) == {"appointment_id", "type", "status", "starts_at", "ends_at"}
        doctor = (await _session(chat, "doctor"))["session"]
        assert (doctor["status"], doctor["may_start"], doctor["may_complete"]) == (
            "in_progress",
            False,
            True,
        )
        await chat.sent("doctor", "How are you?")

        with heard(f"conversation.{chat.id}") as events:
            completed = await _move(chat, "complete")
        assert completed.status_code == 200, completed.text
        assert [event for event, _ in events] == ["session.changed", "conversation.closed"]
        assert _changes(events) == ["completed"]
        assert events[1][1]["closed_by"] == str(chat.people["doctor"].user.id)

        about = await _session(chat, "patient")
        assert about["closed_at"] is not None
        assert (about["may_write"], about["session"]["status"]) == (False, "completed")
        refused = await chat.send("patient", "One more thing")
        assert (refused.status_code, refused.json()["code"]) == (409, "conversation_closed")
        listed = await chat.messages("patient")
        assert [m["text"] for m in listed.json()["items"]] == ["Hello doctor", "How are you?"]
        async with database.transaction() as db:
            audited = (
                await db.scalars(
                    select(AuditEvent).where(
                        AuditEvent.action == "conversation.closed",
                        AuditEvent.resource_id == chat.id,
                    )
                )
            ).all()
        assert [(a.actor_id, a.details.get("because")) for a in audited] == [
            (chat.people["doctor"].user.id, "appointment.complete")
        ]

    async def test_completing_a_video_call_leaves_its_conversation_open(
        self, chat: Talk, client: httpx.AsyncClient, scheduled_doctor: Any
    ) -> None:
        doctor, headers = await scheduled_doctor(**ROUND_THE_CLOCK)
        booked = await book_soon(client, doctor.id, chat.people["other_patient"].headers, "video")
        url = f"/api/v1/appointments/{booked['id']}"
        assert (await client.post(f"{url}/start", headers=headers)).status_code == 200
        completed = await client.post(f"{url}/complete", headers=headers)
        assert completed.status_code == 200, completed.text
        conversations = await client.get(
            "/api/v1/conversations", headers=chat.people["other_patient"].headers
        )
        [video] = [c for c in conversations.json()["items"] if c["appointment_id"] == booked["id"]]
        assert (video["closed_at"], video["may_write"]) == (None, True)
        assert video["session"]["status"] == "completed"

    async def test_a_conversation_closed_before_stays_closed_by_its_closer(
        self, chat: Talk
    ) -> None:
        assert (await _move(chat, "start")).status_code == 200
        closed = await chat.client.post(f"{chat.url}/close", headers=chat.people["doctor"].headers)
        assert closed.status_code == 200, closed.text
        with heard(f"conversation.{chat.id}") as events:
            completed = await _move(chat, "complete")
        assert completed.status_code == 200, completed.text
        assert [event for event, _ in events] == ["session.changed"]
        assert (await _session(chat, "patient"))["closed_at"] == closed.json()["closed_at"]

    async def test_the_rules_are_the_appointments(self, chat: Talk) -> None:
        by_patient = await _move(chat, "start", "patient")
        assert by_patient.status_code == 403
        by_other = await _move(chat, "start", "other_doctor")
        assert by_other.status_code == 404
        unstarted = await _move(chat, "complete")
        assert (unstarted.status_code, unstarted.json()["code"]) == (409, "invalid_transition")
        assert (await _session(chat, "patient"))["closed_at"] is None


class TestNoShowAndCancel:
    """A chat missed or cancelled keeps its conversation open (the patient may explain or ask
    again); the doctor closes it by hand if they wish."""

    async def test_a_no_show_leaves_the_conversation_open(
        self, chat: Talk, token_for: TokenFor
    ) -> None:
        starts = datetime.fromisoformat((await _session(chat, "doctor"))["session"]["starts_at"])
        with (
            time_machine.travel(starts + timedelta(minutes=16), tick=True),
            heard(f"conversation.{chat.id}") as events,
        ):
            missed = await chat.client.post(
                f"/api/v1/appointments/{chat.appointment_id}/no-show",
                headers=await token_for(chat.people["doctor"].user),
            )
            assert missed.status_code == 200, missed.text
        about = await _session(chat, "patient")
        assert _changes(events) == ["no_show"]
        assert (about["closed_at"], about["session"]["status"]) == (None, "no_show")
        assert (await chat.send("patient", "Sorry, I missed it")).status_code == 201
        closed = await chat.client.post(f"{chat.url}/close", headers=chat.people["doctor"].headers)
        assert closed.status_code == 200, closed.text

    async def test_a_cancellation_leaves_the_conversation_open(self, chat: Talk) -> None:
        with heard(f"conversation.{chat.id}") as events:
            cancelled = await _move(chat, "cancel", reason="The doctor is ill.")
        assert cancelled.status_code == 200, cancelled.text
        assert _changes(events) == ["cancelled"]
        about = await _session(chat, "patient")
        assert (about["closed_at"], about["session"]["status"]) == (None, "cancelled")
        assert about["session"]["may_start"] is False
