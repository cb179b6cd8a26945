"""Helpers of the messaging tests: a conversation and the people around it (the fixtures that
make one are in tests/messaging/conftest.py)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import func, select

from carebridge.config import Settings
from carebridge.messaging.attachment_models import Attachment
from carebridge.messaging.models import Message
from carebridge.platform.db import Database
from tests.factories.users import Person


class Talk:
    """A conversation and the people around it."""

    def __init__(
        self, client: httpx.AsyncClient, conversation_id: str, people: dict[str, Person]
    ) -> None:
        self.client = client
        self.id = conversation_id
        self.people = people

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
