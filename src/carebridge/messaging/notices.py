"""Who is told of a new message outside the conversation, and how often.

A member with no open WebSocket (no fresh row in ``messaging_connections``) gets a
``message_received`` notification through the outbox (in-app, push, email by their
preferences), at most one per conversation every :data:`NOTICE_WINDOW`: the member's
``notified_at`` is claimed in the send's own statement (``messaging/queries.py``, by
:func:`notice_due` and :func:`is_fresh`), while the conversation's row is locked, so two messages
at once tell them once. The notification says who wrote and links to the conversation; it
never holds the text.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, func, or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.util import AliasedClass

from carebridge.config import Settings
from carebridge.messaging.kinds import MESSAGE_RECEIVED
from carebridge.messaging.models import ConversationMember, MessagingConnection
from carebridge.notifications.service import notify_many

NOTICE_WINDOW = timedelta(minutes=10)


def fresh_since(settings: Settings, now: datetime) -> datetime:
    """A connection row counts while its process keeps refreshing it: seen after this."""
    return now - timedelta(seconds=3 * settings.realtime_ping_seconds)


def is_fresh(
    since: datetime | ColumnElement[datetime], user_id: ColumnElement[uuid.UUID] | None = None
) -> ColumnElement[bool]:
    """A connection row seen after ``since`` (:func:`fresh_since`); of ``user_id`` if given (the
    send's statement renders it over its own names: ``messaging/queries.py``)."""
    fresh = MessagingConnection.seen_at > since
    return fresh if user_id is None else and_(MessagingConnection.user_id == user_id, fresh)


def notice_due(
    now: datetime | ColumnElement[datetime],
    member: type[ConversationMember] | AliasedClass[ConversationMember] = ConversationMember,
) -> ColumnElement[bool]:
    """A member not told of this conversation within :data:`NOTICE_WINDOW` before ``now``."""
    return or_(member.notified_at.is_(None), member.notified_at <= now - NOTICE_WINDOW)


async def notify(
    db: AsyncSession, conversation_id: uuid.UUID, claimed: Sequence[uuid.UUID]
) -> None:
    """Tell ``claimed`` (members not connected whose notice was due: the send's statement claimed
    their ``notified_at``) that the conversation has a new message, through the outbox."""
    if not claimed:
        return
    await notify_many(
        db,
        list(claimed),
        MESSAGE_RECEIVED.name,
        "New message",
        "You have a new message from your care team. Sign in to read it.",
        data={"conversation_id": str(conversation_id)},
        link=f"/conversations/{conversation_id}",
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
