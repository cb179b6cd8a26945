"""Messaging on the real-time gateway: the ``conversation.<id>`` topic (members only, with a
replay of the messages after the client's last sequence number), the client frames ``send``,
``typing`` and ``read``, and the members' connections (who is away, for notifications).

A replayed message is sent as ``message.created`` with its current state (edited text, or the
tombstone of a deleted one). ``typing`` is not stored: at most one per member and conversation
every :data:`TYPING_EVERY` seconds in this process, shown for :data:`TYPING_SHOWN` seconds.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import Role, UserStatus
from carebridge.messaging import notices, service
from carebridge.messaging.schemas import MessageIn
from carebridge.platform.context import CallScope, RequestContext
from carebridge.platform.errors import Invalid
from carebridge.platform.events import publish
from carebridge.platform.realtime.topics import (
    GatewayContext,
    Identity,
    Replay,
    on_close,
    on_open,
    on_tick,
    parse_action,
    register_action,
    register_topic,
)

TYPING_EVERY = 3.0
TYPING_SHOWN = 6
_ORIGIN = RequestContext(user_agent="realtime")
_last_typing: dict[tuple[uuid.UUID, uuid.UUID], float] = {}


def conversation_of(topic: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(topic.removeprefix(service.TOPIC))
    except ValueError:
        return None


def _actor(identity: Identity) -> Actor:
    """The socket's holder: its account's role and status as of its ticket (the gateway ends
    the sockets of a session that ends, as when an account is disabled)."""
    return Actor(
        id=identity.user_id,
        role=Role(identity.role),
        status=UserStatus(identity.status),
        session_id=identity.session_id,
    )


async def members_only(db: AsyncSession, identity: Identity, topic: str) -> bool:
    """Subscribing is a read: members only (an administrator is not one)."""
    conversation_id = conversation_of(topic)
    return conversation_id is not None and await service.is_member(
        db, conversation_id, identity.user_id
    )


async def replay(
    context: GatewayContext,
    db: AsyncSession,
    identity: Identity,
    topic: str,
    after: int,
    limit: int,
) -> list[tuple[str, dict[str, Any]]]:
    """Every message after ``after``, oldest first, as it is now (audited like a read)."""
    conversation_id = conversation_of(topic)
    assert conversation_id is not None  # authorized first
    actor = _actor(identity)
    page = await service.list_messages(
        db, _scope(context), actor, conversation_id, after_seq=after, limit=limit
    )
    return [("message.created", item.model_dump(mode="json")) for item in page.items]


register_topic(service.TOPIC, members_only, replay=Replay(replay, "message.created"))


def _scope(context: GatewayContext) -> CallScope:
    return CallScope(context.settings, context.keyring, _ORIGIN)


# -- client frames ------------------------------------------------------------------------------


class _Send(MessageIn):
    conversation_id: uuid.UUID


class _Read(BaseModel):
    model_config = ConfigDict(extra="ignore")

    conversation_id: uuid.UUID
    seq: int


class _Typing(BaseModel):
    model_config = ConfigDict(extra="ignore")

    conversation_id: uuid.UUID


async def send_frame(
    context: GatewayContext, identity: Identity, frame: dict[str, Any]
) -> dict[str, Any]:
    """``{"type": "send", "conversation_id", "client_id", "text"}``: as the API's send."""
    body = parse_action(_Send, frame)
    sent = await service.send_live(
        context.database, _scope(context), _actor(identity), body.conversation_id, body
    )
    shown = sent.shown or sent.message.model_dump(mode="json")
    return {"message": shown, "created": sent.created}


async def read_frame(
    context: GatewayContext, identity: Identity, frame: dict[str, Any]
) -> dict[str, Any]:
    """``{"type": "read", "conversation_id", "seq"}``: as the API's read."""
    body = parse_action(_Read, frame)
    if not 0 <= body.seq < 2**31:
        raise Invalid("`seq` is a sequence number (0 or more).", code="bad_frame")
    async with context.database.transaction() as db:
        actor = _actor(identity)
        unread = await service.mark_read(db, _scope(context), actor, body.conversation_id, body.seq)
    return {"unread": unread.model_dump(mode="json")}


async def typing_frame(
    context: GatewayContext, identity: Identity, frame: dict[str, Any]
) -> dict[str, Any]:
    """``{"type": "typing", "conversation_id"}``: the other members see ``typing`` (not stored;
    a member's frames closer than 3 s apart are acknowledged and not passed on)."""
    body = parse_action(_Typing, frame)
    key = (body.conversation_id, identity.user_id)
    now = time.monotonic()
    if now - _last_typing.get(key, -TYPING_EVERY) < TYPING_EVERY:
        return {"sent": False}
    async with context.database.transaction() as db:
        await service.check_typing(db, _actor(identity), body.conversation_id)
    _last_typing[key] = now
    if len(_last_typing) > 10_000:  # forget the old ones
        for old in [k for k, at in _last_typing.items() if now - at > TYPING_EVERY]:
            del _last_typing[old]
    data = {"user_id": str(identity.user_id), "expires_in": TYPING_SHOWN}
    await publish(service.topic_of(body.conversation_id), "typing", data)
    return {"sent": True}


register_action("send", send_frame)
register_action("read", read_frame)
register_action("typing", typing_frame)


# -- who is connected ---------------------------------------------------------------------------


@on_open
async def connected(context: GatewayContext, identity: Identity, connection_id: uuid.UUID) -> None:
    async with context.database.transaction() as db:
        await notices.connection_opened(db, identity.user_id, connection_id, context.process_id)


@on_close
async def disconnected(
    context: GatewayContext, identity: Identity, connection_id: uuid.UUID
) -> None:
    async with context.database.transaction() as db:
        await notices.connection_closed(db, connection_id)


@on_tick
async def refresh(context: GatewayContext) -> None:
    async with context.database.transaction() as db:
        await notices.refresh_connections(
            db, context.settings, context.process_id, datetime.now(UTC)
        )
