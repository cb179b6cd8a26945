"""The ``conversation.<id>`` topic with real WebSocket clients against a running server: members
only, sequence numbers without gaps under concurrent sends, the replay after a reconnect
(nothing lost or duplicated, also while messages keep coming), and the client frames ``send``,
``typing`` and ``read``."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, or_, select
from websockets.asyncio.client import ClientConnection

from carebridge.accounts.models import Role
from carebridge.compliance.models import AuditEvent
from carebridge.messaging.models import Message
from carebridge.notifications.models import Notification
from carebridge.scheduling.models import Appointment
from tests.factories.realtime import Live, Member, next_frame, subscribe
from tests.factories.scheduling import written_appointment


@dataclass
class Thread:
    live: Live
    id: str
    patient: Member
    doctor: Member

    @property
    def topic(self) -> str:
        return f"conversation.{self.id}"

    async def send(self, member: Member, text: str, timeout: float = 10) -> dict[str, Any]:
        answer = await self.live.http.post(
            f"/api/v1/conversations/{self.id}/messages",
            json={"client_id": str(uuid.uuid4()), "text": text},
            headers=member.headers,
            timeout=timeout,
        )
        assert answer.status_code == 201, answer.text
        body: dict[str, Any] = answer.json()
        return body


@pytest.fixture
async def thread(live: Live) -> AsyncIterator[Thread]:
    """A care thread of a patient and a doctor who had an appointment two days ago."""
    patient = await live.member(Role.patient, "Pat Live")
    doctor = await live.doctor("Dr. Live")
    starts = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    async with live.database.transaction() as db:
        db.add(written_appointment(doctor.user_id, patient.user_id, "completed", starts, starts))
    opened = await live.http.post(
        "/api/v1/conversations", json={"doctor_id": str(doctor.user_id)}, headers=patient.headers
    )
    assert opened.status_code == 201, opened.text
    yield Thread(live, opened.json()["id"], patient, doctor)
    async with live.database.transaction() as db:  # before the people go
        await db.execute(
            delete(Appointment).where(
                or_(Appointment.patient_id.in_(live.made), Appointment.doctor_id.in_(live.made))
            )
        )


async def _events(
    socket: ClientConnection, count: int, timeout: float = 20
) -> list[dict[str, Any]]:
    """The next ``count`` message events (live or replayed) of the socket."""
    found: list[dict[str, Any]] = []

    def wanted(frame: dict[str, Any]) -> bool:
        return frame["type"] == "event" and frame["event"] == "message.created"

    while len(found) < count:
        found.append(await next_frame(socket, wanted, timeout))
    return found


async def test_only_members_subscribe(live: Live, thread: Thread) -> None:
    stranger = await live.member(Role.patient)
    admin = await live.member(Role.admin)
    other_doctor = await live.doctor()
    for outsider in (stranger, admin, other_doctor):
        async with await live.open(outsider) as socket:
            [refused] = await subscribe(socket, thread.topic)
            assert (refused["type"], refused["code"]) == ("error", "forbidden_topic")
    async with await live.open(thread.doctor) as socket:
        frames = await subscribe(socket, thread.topic)
        assert frames[-1]["type"] == "subscribed"


async def test_two_hundred_concurrent_sends_are_numbered_without_gaps(
    live: Live, thread: Thread
) -> None:
    async with await live.open(thread.doctor) as watcher:
        await subscribe(watcher, thread.topic)
        # All 200 at once (the client keeps up to 100 connections open): they queue on the
        # conversation's row lock, hence the long timeout on a machine shared with other work.
        sent = await asyncio.gather(
            *(
                thread.send(thread.patient if n % 2 else thread.doctor, f"Line {n}", timeout=90)
                for n in range(200)
            )
        )
        assert sorted(message["seq"] for message in sent) == list(range(1, 201))
        seen = [frame["data"]["seq"] for frame in await _events(watcher, 200)]
        assert sorted(seen) == list(range(1, 201))  # each once, live


async def test_a_client_that_reconnects_gets_exactly_what_it_missed_in_order(
    live: Live, thread: Thread
) -> None:
    async with await live.open(thread.patient) as socket:
        await subscribe(socket, thread.topic)
        await thread.send(thread.doctor, "Before the drop")
        [before] = await _events(socket, 1)
    last = before["data"]["seq"]
    for n in range(20):  # sent while the patient is away
        await thread.send(thread.doctor, f"Missed {n}")
    async with await live.open(thread.patient) as socket:
        await socket.send(
            json.dumps({"type": "subscribe", "topic": thread.topic, "after_seq": last})
        )
        replayed = await _events(socket, 20)
        assert [frame["data"]["seq"] for frame in replayed] == list(range(last + 1, last + 21))
        assert [frame["data"]["text"] for frame in replayed] == [f"Missed {n}" for n in range(20)]
        assert all(frame["replay"] is True for frame in replayed)
        subscribed = await next_frame(socket, lambda f: f["type"] == "subscribed")
        assert (subscribed["replayed"], subscribed["through"]) == (20, last + 20)
        assert subscribed["complete"] is True
        await thread.send(thread.doctor, "Live again")
        [live_frame] = await _events(socket, 1)
        assert live_frame["data"]["seq"] == last + 21
        assert "replay" not in live_frame


async def test_a_replay_while_messages_keep_coming_loses_and_repeats_nothing(
    live: Live, thread: Thread
) -> None:
    for n in range(10):
        await thread.send(thread.doctor, f"Early {n}")

    async def keep_sending() -> None:
        for n in range(40):
            await thread.send(thread.doctor, f"Later {n}")

    sender = asyncio.create_task(keep_sending())
    try:
        async with await live.open(thread.patient) as socket:
            await socket.send(
                json.dumps({"type": "subscribe", "topic": thread.topic, "after_seq": 5})
            )
            seqs = [frame["data"]["seq"] for frame in await _events(socket, 45)]
    finally:
        await sender
    assert sorted(seqs) == list(range(6, 51))  # nothing lost, nothing twice


async def test_send_typing_and_read_over_the_socket(live: Live, thread: Thread) -> None:
    async with (
        await live.open(thread.patient) as patient,
        await live.open(thread.doctor) as doctor,
    ):
        await subscribe(patient, thread.topic)
        await subscribe(doctor, thread.topic)
        await subscribe(doctor, f"user.{thread.doctor.user_id}")
        client_id = str(uuid.uuid4())
        frame = {
            "type": "send",
            "id": "s1",
            "conversation_id": thread.id,
            "client_id": client_id,
            "text": "Sent over the socket",
        }
        await patient.send(json.dumps(frame))
        ack = await next_frame(patient, lambda f: f["type"] in ("ack", "error"))
        assert (ack["type"], ack["id"], ack["created"]) == ("ack", "s1", True), ack
        assert ack["message"]["seq"] == 1
        await patient.send(json.dumps(frame))  # the same client id again: the first result
        again = await next_frame(patient, lambda f: f["type"] in ("ack", "error"))
        assert (again["created"], again["message"]["id"]) == (False, ack["message"]["id"])
        [created] = await _events(doctor, 1)
        assert created["data"]["text"] == "Sent over the socket"
        unread = await next_frame(doctor, lambda f: f.get("event") == "conversation.unread_count")
        assert (unread["data"]["unread"], unread["data"]["total_unread"]) == (1, 1)

        typing = {"type": "typing", "conversation_id": thread.id}
        await patient.send(json.dumps(typing))
        shown = await next_frame(doctor, lambda f: f.get("event") == "typing")
        assert shown["data"]["user_id"] == str(thread.patient.user_id)
        await patient.send(json.dumps(typing))
        acks = [await next_frame(patient, lambda f: f["type"] == "ack") for _ in range(2)]
        assert [a["sent"] for a in acks] == [True, False]  # at most one every 3 s

        await doctor.send(json.dumps({"type": "read", "conversation_id": thread.id, "seq": 1}))
        receipt = await next_frame(patient, lambda f: f.get("event") == "read")
        assert receipt["data"] == {"user_id": str(thread.doctor.user_id), "last_read_seq": 1}
        cleared = await next_frame(doctor, lambda f: f.get("event") == "conversation.unread_count")
        assert cleared["data"]["total_unread"] == 0

        stranger = await live.member(Role.patient)
        async with await live.open(stranger) as outsider:
            await outsider.send(json.dumps({**frame, "client_id": str(uuid.uuid4())}))
            refused = await next_frame(outsider, lambda f: f["type"] in ("ack", "error"))
            assert (refused["type"], refused["code"]) == ("error", "conversation_not_found")


async def test_a_socket_send_to_a_member_away_notifies_them_once_and_stores_once(
    live: Live, thread: Thread
) -> None:
    """The socket's send runs without an ORM session; a member with no connection is to be told
    (``message_received``), which it hands to the session's send: one message, one audit row,
    one notification, and the next message within the window tells them nothing new."""
    async with await live.open(thread.patient) as patient:
        await subscribe(patient, thread.topic)
        answers = []
        for n in (1, 2):
            frame = {
                "type": "send",
                "conversation_id": thread.id,
                "client_id": str(uuid.uuid4()),
                "text": f"While you were away {n}",
            }
            await patient.send(json.dumps(frame))
            answers.append(await next_frame(patient, lambda f: f["type"] in ("ack", "error")))
    assert [(a["type"], a["created"], a["message"]["seq"]) for a in answers] == [
        ("ack", True, 1),
        ("ack", True, 2),
    ], answers
    async with live.database.transaction() as db:
        stored = await db.scalar(
            select(func.count()).select_from(Message).where(Message.conversation_id == thread.id)
        )
        audited = (
            await db.scalars(
                select(AuditEvent.details).where(
                    AuditEvent.action == "message.sent",
                    AuditEvent.actor_id == thread.patient.user_id,
                )
            )
        ).all()
        told = await db.scalar(
            select(func.count())
            .select_from(Notification)
            .where(
                Notification.recipient_id == thread.doctor.user_id,
                Notification.kind == "message_received",
            )
        )
    assert stored == 2
    assert sorted(d["seq"] for d in audited) == [1, 2]
    assert all(d["conversation_id"] == thread.id for d in audited)
    assert told == 1


async def test_a_canary_message_is_not_in_a_dump_of_the_database(
    thread: Thread, owner_database_url: str
) -> None:
    """The text is sealed at rest: a ``pg_dump`` of the whole database holds the message's row
    (its id) but never its words, nor does the audit trail or the notification it caused."""
    canary = f"zqcanary-dump-{uuid.uuid4().hex}"
    sent = await thread.send(thread.patient, canary)
    dump = await asyncio.create_subprocess_exec(
        "pg_dump", "--data-only", owner_database_url, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await dump.communicate()
    assert dump.returncode == 0
    assert sent["id"].encode() in out
    assert canary.encode() not in out
