"""Conversations through the API: membership and 404s, care threads, members, closing, the
patient's write window, messages (idempotent client id, edit window, tombstones, sealed at rest),
unread counts and the notification of an absent member."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, select, text, update

from carebridge.accounts.models import Role
from carebridge.compliance.models import AuditEvent
from carebridge.messaging.models import Message
from carebridge.notifications.models import Notification
from carebridge.platform.db import Database
from tests.factories.messaging import Talk
from tests.factories.users import MakeUser, Person, TokenFor

STRANGERS = ("other_patient", "other_doctor", "nurse")


async def test_booking_opens_the_appointments_conversation_with_both_people(talk: Talk) -> None:
    answer = await talk.client.get(talk.url, headers=talk.people["patient"].headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["kind"] == "appointment"
    members = {m["user_id"]: m["role"] for m in body["members"]}
    assert members == {
        str(talk.people["patient"].user.id): "patient",
        str(talk.people["doctor"].user.id): "doctor",
    }
    assert (body["last_seq"], body["unread"], body["may_write"]) == (0, 0, True)


async def test_non_members_find_nothing_and_admins_see_metadata_only(talk: Talk) -> None:
    message = await talk.sent("patient", "zq-private-words")
    routes = [
        ("GET", talk.url, None),
        ("GET", f"{talk.url}/messages", None),
        ("POST", f"{talk.url}/messages", {"client_id": str(uuid.uuid4()), "text": "hi"}),
        ("PATCH", f"{talk.url}/messages/{message['id']}", {"text": "changed"}),
        ("DELETE", f"{talk.url}/messages/{message['id']}", None),
        ("POST", f"{talk.url}/read", {"seq": 1}),
    ]
    for who in (*STRANGERS, "admin"):
        for method, url, body in routes:
            if who == "admin" and (method, url) == ("GET", talk.url):
                continue  # the metadata, below
            answer = await talk.client.request(
                method, url, json=body, headers=talk.people[who].headers
            )
            assert answer.status_code == 404, (who, method, url, answer.text)
            assert "zq-private-words" not in answer.text
    listed = await talk.client.get(
        "/api/v1/conversations", headers=talk.people["other_patient"].headers
    )
    assert listed.json()["items"] == []
    metadata = await talk.client.get(talk.url, headers=talk.people["admin"].headers)
    assert metadata.status_code == 200, metadata.text
    assert metadata.json()["message_count"] == 1
    assert metadata.json()["unread"] is None
    assert "zq-private-words" not in metadata.text
    every = await talk.client.get("/api/v1/conversations", headers=talk.people["admin"].headers)
    assert talk.id in [item["id"] for item in every.json()["items"]]
    assert "zq-private-words" not in every.text


async def test_a_care_thread_needs_an_appointment_together(
    client: httpx.AsyncClient,
    talk: Talk,
    past_appointment: Callable[..., Any],
) -> None:
    doctor = talk.people["doctor"]
    stranger = talk.people["other_patient"]
    refused = await client.post(
        "/api/v1/conversations",
        json={"doctor_id": str(doctor.user.id)},
        headers=stranger.headers,
    )
    assert (refused.status_code, refused.json()["code"]) == (403, "no_care_relationship")
    await past_appointment(doctor.user.id, stranger.user.id)
    opened = await client.post(
        "/api/v1/conversations", json={"doctor_id": str(doctor.user.id)}, headers=stranger.headers
    )
    assert opened.status_code == 201, opened.text
    assert opened.json()["kind"] == "care"
    again = await client.post(
        "/api/v1/conversations",
        json={"patient_id": str(stranger.user.id)},
        headers=doctor.headers,
    )
    assert again.json()["id"] == opened.json()["id"]  # one thread per pair, opened by either
    # An upcoming appointment counts too: the booked patient opens one with their doctor.
    upcoming = await client.post(
        "/api/v1/conversations",
        json={"doctor_id": str(doctor.user.id)},
        headers=talk.people["patient"].headers,
    )
    assert upcoming.status_code == 201, upcoming.text
    nurse = await client.post(
        "/api/v1/conversations",
        json={"patient_id": str(stranger.user.id)},
        headers=talk.people["nurse"].headers,
    )
    assert (nurse.status_code, nurse.json()["code"]) == (403, "wrong_role")


async def test_the_doctor_adds_a_nurse_and_closes_the_thread(talk: Talk) -> None:
    nurse = talk.people["nurse"]
    body = {"user_id": str(nurse.user.id)}
    by_patient = await talk.client.post(
        f"{talk.url}/members", json=body, headers=talk.people["patient"].headers
    )
    assert by_patient.status_code == 403
    not_clinician = await talk.client.post(
        f"{talk.url}/members",
        json={"user_id": str(talk.people["other_patient"].user.id)},
        headers=talk.people["doctor"].headers,
    )
    assert (not_clinician.status_code, not_clinician.json()["code"]) == (422, "not_a_clinician")
    added = await talk.client.post(
        f"{talk.url}/members", json=body, headers=talk.people["doctor"].headers
    )
    assert added.status_code == 200, added.text
    await talk.sent("patient", "Hello both")
    read = await talk.messages("nurse")
    assert [m["text"] for m in read.json()["items"]] == ["Hello both"]

    closed = await talk.client.post(f"{talk.url}/close", headers=talk.people["doctor"].headers)
    assert closed.status_code == 200, closed.text
    assert closed.json()["closed_at"] is not None
    refused = await talk.send("patient", "After the close")
    assert (refused.status_code, refused.json()["code"]) == (409, "conversation_closed")
    still = await talk.messages("patient")
    assert [m["text"] for m in still.json()["items"]] == ["Hello both"]


async def test_a_patient_writes_until_the_window_after_the_last_appointment_closes(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    token_for: TokenFor,
    talk: Talk,
    past_appointment: Callable[..., Any],
) -> None:
    doctor = talk.people["doctor"]
    patient_user = await make_user(Role.patient)
    patient = Person(patient_user, await token_for(patient_user))
    await past_appointment(doctor.user.id, patient_user.id, days=45)  # the default window: 30
    opened = await client.post(
        "/api/v1/conversations", json={"doctor_id": str(doctor.user.id)}, headers=patient.headers
    )
    assert opened.status_code == 201, opened.text
    thread = Talk(client, opened.json()["id"], {"patient": patient, "doctor": doctor})
    assert opened.json()["may_write"] is False
    refused = await thread.send("patient", "Are my results in?")
    assert (refused.status_code, refused.json()["code"]) == (409, "write_window_closed")
    assert (await thread.send("doctor", "Your results are in.")).status_code == 201
    await past_appointment(doctor.user.id, patient_user.id, days=3)
    assert (await thread.send("patient", "Thank you")).status_code == 201


async def test_a_retried_send_stores_one_message(talk: Talk, database: Database) -> None:
    client_id = uuid.uuid4()
    first = await talk.send("patient", "Once", client_id)
    second = await talk.send("patient", "Once", client_id)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json() == second.json()
    other = await talk.send("doctor", "Another", client_id)  # another sender's own key
    assert other.status_code == 201
    assert [first.json()["seq"], other.json()["seq"]] == [1, 2]
    async with database.transaction() as db:
        count = await db.scalar(select(func.count()).select_from(Message))
    assert count == 2


async def test_the_text_is_sealed_at_rest(talk: Talk, database: Database) -> None:
    canary = f"zqcanary-{uuid.uuid4().hex}"
    sent = await talk.sent("patient", canary)
    async with database.transaction() as db:
        row = (
            await db.execute(
                text("SELECT m::text AS whole, body_sealed FROM messages m WHERE id = :id"),
                {"id": sent["id"]},
            )
        ).one()
    assert canary not in row.whole
    assert canary.encode() not in row.body_sealed
    read = await talk.messages("doctor")
    assert read.json()["items"][0]["text"] == canary


async def test_edit_within_fifteen_minutes_then_delete_leaves_a_tombstone(
    talk: Talk, database: Database
) -> None:
    sent = await talk.sent("patient", "Typo hree")
    url = f"{talk.url}/messages/{sent['id']}"
    patient, doctor = talk.people["patient"].headers, talk.people["doctor"].headers
    not_mine = await talk.client.patch(url, json={"text": "x"}, headers=doctor)
    assert (not_mine.status_code, not_mine.json()["code"]) == (403, "not_your_message")
    edited = await talk.client.patch(url, json={"text": "Typo here"}, headers=patient)
    assert edited.status_code == 200, edited.text
    assert (edited.json()["text"], edited.json()["seq"]) == ("Typo here", 1)
    assert edited.json()["edited_at"] is not None
    async with database.transaction() as db:
        await db.execute(
            update(Message)
            .where(Message.id == uuid.UUID(sent["id"]))
            .values(created_at=Message.created_at - timedelta(minutes=16))
        )
    late = await talk.client.patch(url, json={"text": "Too late"}, headers=patient)
    assert (late.status_code, late.json()["code"]) == (409, "edit_window_closed")
    deleted = await talk.client.delete(url, headers=patient)
    assert deleted.status_code == 200, deleted.text
    read = await talk.messages("doctor")
    [tombstone] = read.json()["items"]
    assert (tombstone["state"], tombstone["text"], tombstone["seq"]) == ("deleted", None, 1)
    async with database.transaction() as db:
        sealed = await db.scalar(
            select(Message.body_sealed).where(Message.id == uuid.UUID(sent["id"]))
        )
        actions = set(
            await db.scalars(select(AuditEvent.action).where(AuditEvent.resource_id == sent["id"]))
        )
    assert sealed is None
    assert {"message.sent", "message.edited", "message.deleted"} <= actions


async def test_pages_of_messages_by_sequence(talk: Talk) -> None:
    for n in range(1, 8):
        await talk.sent("patient" if n % 2 else "doctor", f"Message {n}")
    latest = await talk.messages("patient", limit=3)
    assert [m["seq"] for m in latest.json()["items"]] == [5, 6, 7]
    assert latest.json()["more"] is True
    back = await talk.messages("patient", before_seq=5, limit=3)
    assert [m["seq"] for m in back.json()["items"]] == [2, 3, 4]
    after = await talk.messages("patient", after_seq=5)
    assert [m["seq"] for m in after.json()["items"]] == [6, 7]
    assert after.json()["more"] is False
    bad = await talk.messages("patient", after_seq=-1)
    assert bad.status_code == 422


async def test_unread_counts_and_read_receipts(talk: Talk) -> None:
    for n in range(3):
        await talk.sent("patient", f"Question {n}")
    doctor = talk.people["doctor"].headers
    mine = await talk.client.get("/api/v1/conversations", headers=doctor)
    assert mine.json()["total_unread"] == 3
    assert mine.json()["items"][0]["unread"] == 3
    read = await talk.client.post(f"{talk.url}/read", json={"seq": 2}, headers=doctor)
    assert read.json() == {
        "conversation_id": talk.id,
        "last_read_seq": 2,
        "unread": 1,
        "total_unread": 1,
    }
    backwards = await talk.client.post(f"{talk.url}/read", json={"seq": 1}, headers=doctor)
    assert backwards.json()["last_read_seq"] == 2  # never moves back
    patient_side = await talk.client.get(talk.url, headers=talk.people["patient"].headers)
    seen = {m["user_id"]: m["last_read_seq"] for m in patient_side.json()["members"]}
    assert seen[str(talk.people["doctor"].user.id)] == 2  # "seen" up to 2
    assert patient_side.json()["unread"] == 0  # one's own messages are read


async def test_an_absent_member_is_told_once_per_window_without_the_text(
    talk: Talk, database: Database
) -> None:
    await talk.sent("patient", "zq-symptom-detail one")
    await talk.sent("patient", "zq-symptom-detail two")
    async with database.transaction() as db:
        told = list(
            await db.scalars(
                select(Notification).where(
                    Notification.recipient_id == talk.people["doctor"].user.id,
                    Notification.kind == "message_received",
                )
            )
        )
    assert len(told) == 1
    assert "zq-symptom" not in f"{told[0].title} {told[0].body} {told[0].data}"
    assert told[0].link == f"/conversations/{talk.id}"
