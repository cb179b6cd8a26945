"""Helpers of the messaging tests: a conversation and the people around it (the fixtures that
make one are in tests/messaging/conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import func, select

from carebridge.config import Settings
from carebridge.messaging.attachment_models import Attachment
from carebridge.messaging.models import Conversation, Message
from carebridge.platform.db import Database
from carebridge.platform.events import listen
from tests.factories.scheduling import next_weekday, schedule_body
from tests.factories.users import Headers, Person

# A doctor's week around the clock (UTC) in 5-minute chat and video slots: the next slot starts
# within 5 minutes, inside the window where its doctor may start it (10 minutes before).
ROUND_THE_CLOCK = schedule_body(
    time_zone="UTC",
    windows=[{"weekday": d, "starts": "00:00", "ends": "23:59"} for d in range(7)],
    types=[
        {"type": "chat", "duration_minutes": 5, "buffer_minutes": 0},
        {"type": "video", "duration_minutes": 5, "buffer_minutes": 0},
    ],
)


class Talk:
    """A conversation and the people around it (and its appointment's id, for an
    appointment's conversation)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        conversation_id: str,
        people: dict[str, Person],
        appointment_id: str | None = None,
    ) -> None:
        self.client = client
        self.id = conversation_id
        self.people = people
        self.appointment_id = appointment_id

    @property
    def url(self) -> str:
        return f"/api/v1/conversations/{self.id}"

    async def send(self, who: str, text: str, client_id: uuid.UUID | None = None) -> httpx.Response:
        return await self.client.post(
            f"{self.url}/messages",
            json={"client_id": str(client_id or uuid.uuid4()), "text": text},
            headers=self.people[who].headers,
        )

    async def messages(self, who: str, **params: Any) -> httpx.Response:
        return await self.client.get(
            f"{self.url}/messages", params=params, headers=self.people[who].headers
        )

    async def sent(self, who: str, text: str) -> dict[str, Any]:
        answer = await self.send(who, text)
        assert answer.status_code == 201, answer.text
        body: dict[str, Any] = answer.json()
        return body


async def conversation_of(database: Database, appointment_id: str) -> str:
    """The conversation the booking of ``appointment_id`` opened."""
    async with database.transaction() as db:
        found = await db.scalar(
            select(Conversation.id).where(Conversation.appointment_id == uuid.UUID(appointment_id))
        )
    assert found is not None
    return str(found)


async def booked_talk(
    client: httpx.AsyncClient,
    database: Database,
    everyone_else: dict[str, Person],
    scheduled_doctor: Any,
) -> Talk:
    """A video appointment booked through the API in two days by ``everyone_else["patient"]``
    with a new scheduled doctor, and its conversation, opened by the booking."""
    doctor, doctor_headers = await scheduled_doctor()
    people = {"doctor": Person(doctor, doctor_headers), **everyone_else}
    booked = await client.post(
        "/api/v1/appointments",
        json={
            "doctor_id": str(doctor.id),
            "starts_at": f"{next_weekday(2).isoformat()}T10:00:00+00:00",
            "type": "video",
        },
        headers=people["patient"].headers,
    )
    assert booked.status_code == 201, booked.text
    appointment_id = booked.json()["id"]
    return Talk(client, await conversation_of(database, appointment_id), people, appointment_id)


async def book_soon(
    client: httpx.AsyncClient, doctor_id: uuid.UUID, headers: Headers, kind: str = "chat"
) -> dict[str, Any]:
    """An appointment of ``kind`` booked through the API at the doctor's first open slot from
    now (with :data:`ROUND_THE_CLOCK`: one its doctor may start now)."""
    slots = await client.get(
        f"/api/v1/doctors/{doctor_id}/slots", params={"type": kind}, headers=headers
    )
    assert slots.status_code == 200, slots.text
    starts_at = slots.json()["slots"][0]["starts_at"]
    body = {"doctor_id": str(doctor_id), "starts_at": starts_at, "type": kind}
    booked = await client.post("/api/v1/appointments", json=body, headers=headers)
    assert booked.status_code == 201, booked.text
    answer: dict[str, Any] = booked.json()
    return answer


@contextmanager
def heard(topic: str) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """The (event, data) published on ``topic`` while the block runs (after each commit)."""
    found: list[tuple[str, dict[str, Any]]] = []

    async def listener(at: str, event: str, data: dict[str, Any], seq: int | None) -> None:
        if at == topic:
            found.append((event, data))

    stop = listen(listener)
    try:
        yield found
    finally:
        stop()


def stored(settings: Settings) -> dict[str, bytes]:
    """Every file of the storage directory, by path: what a backup of it would hold."""
    root = settings.data_dir.resolve() / "files"
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


async def rows(database: Database, talk: Talk) -> tuple[int, int]:
    """The conversation's messages and attachments."""
    conversation_id = uuid.UUID(talk.id)
    async with database.transaction() as db:
        messages = await db.scalar(
            select(func.count()).where(Message.conversation_id == conversation_id)
        )
        attached = await db.scalar(
            select(func.count()).where(Attachment.conversation_id == conversation_id)
        )
    return int(messages or 0), int(attached or 0)
