"""Who is told of a new message outside the conversation, and how often.

A member with no open WebSocket (no fresh row in ``messaging_connections``) gets a
``message_received`` notification through the outbox (in-app, push, email by their
preferences), at most one per conversation every :data:`NOTICE_WINDOW`: the member's
``notified_at`` is claimed by one ``UPDATE ... RETURNING``, so two messages at once tell them
once. The notification says who wrote and links to the conversation; it never holds the text.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.config import Settings
from carebridge.messaging.kinds import MESSAGE_RECEIVED
from carebridge.messaging.models import Conversation, ConversationMember, MessagingConnection
from carebridge.notifications.service import notify_many

NOTICE_WINDOW = timedelta(minutes=10)


def _fresh(settings: Settings, now: datetime) -> ColumnElement[bool]:
    """A connection row counts while its process keeps refreshing it."""
    stale = now - timedelta(seconds=3 * settings.realtime_ping_seconds)
    return MessagingConnection.seen_at > stale


async def connected(
    db: AsyncSession, settings: Settings, user_ids: Sequence[uuid.UUID], now: datetime
) -> set[uuid.UUID]:
    """Those of ``user_ids`` with an open WebSocket in any process."""
    found = await db.scalars(
        select(MessagingConnection.user_id)
        .where(MessagingConnection.user_id.in_(user_ids), _fresh(settings, now))
        .distinct()
    )
    return set(found)


async def tell_absent(
    db: AsyncSession,
    settings: Settings,
    conversation: Conversation,
    recipients: Sequence[uuid.UUID],
    now: datetime,
) -> None:
    """Notify the members of ``recipients`` who are not connected, once per window."""
    if not recipients:
        return
    absent = set(recipients) - await connected(db, settings, recipients, now)
    if not absent:
        return
    claimed = list(
        await db.scalars(
            update(ConversationMember)
            .where(
                ConversationMember.conversation_id == conversation.id,
                ConversationMember.user_id.in_(absent),
                or_(
                    ConversationMember.notified_at.is_(None),
                    ConversationMember.notified_at <= now - NOTICE_WINDOW,
                ),
            )
            .values(notified_at=now)
            .returning(ConversationMember.user_id)
            .execution_options(synchronize_session=False)
        )
    )
    if not claimed:
        return
    await notify_many(
        db,
        claimed,
        MESSAGE_RECEIVED.name,
        "New message",
        "You have a new message from your care team. Sign in to read it.",
        data={"conversation_id": str(conversation.id)},
        link=f"/conversations/{conversation.id}",
    )


# -- connections (kept by messaging/realtime.py) --------------------------------------------------


async def connection_opened(
    db: AsyncSession, user_id: uuid.UUID, connection_id: uuid.UUID, process_id: str
) -> None:
    db.add(MessagingConnection(id=connection_id, user_id=user_id, process_id=process_id))


async def connection_closed(db: AsyncSession, connection_id: uuid.UUID) -> None:
    await db.execute(delete(MessagingConnection).where(MessagingConnection.id == connection_id))


async def refresh_connections(
    db: AsyncSession, settings: Settings, process_id: str, now: datetime
) -> None:
    """This process's connections are alive; rows no process refreshed any more go."""
    await db.execute(
        update(MessagingConnection)
        .where(MessagingConnection.process_id == process_id)
        .values(seen_at=func.now())
    )
    stale = now - timedelta(seconds=10 * settings.realtime_ping_seconds)
    await db.execute(delete(MessagingConnection).where(MessagingConnection.seen_at < stale))
