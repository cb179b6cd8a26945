"""A home visit's conversation (kind ``visit``): the patient and the nurse who took the visit.

The visits domain calls these in the transaction of the move that causes them (messaging knows
nothing of visits but the visit's id): a nurse who accepts or claims a visit joins its
conversation, opened then if it is the first; a nurse who declines it or is replaced leaves it
(they no longer read it, nor what is written after); the visit's end closes it (readable, not
writable). Members see the changes live on ``conversation.<id>`` (``member.added``,
``member.removed``, ``conversation.closed``).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import UTC, datetime

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.messaging.models import (
    Conversation,
    ConversationKind,
    ConversationMember,
    MemberRole,
)
from carebridge.messaging.service import _add_members, _audit, topic_of
from carebridge.platform.context import CallScope
from carebridge.platform.events import publish_after_commit


async def _thread_of(db: AsyncSession, visit_id: uuid.UUID) -> uuid.UUID | None:
    found: uuid.UUID | None = await db.scalar(
        select(Conversation.id).where(Conversation.visit_id == visit_id)
    )
    return found


async def join_visit_thread(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    *,
    visit_id: uuid.UUID,
    patient_id: uuid.UUID,
    nurse_id: uuid.UUID,
) -> uuid.UUID:
    """The visit's nurse joins its conversation with the patient (opened now if it has none);
    its id."""
    created = await db.scalar(
        insert(Conversation)
        .values(
            kind=str(ConversationKind.visit),
            visit_id=visit_id,
            patient_id=patient_id,
            opened_by=actor.id,
        )
        .on_conflict_do_nothing(index_elements=[Conversation.visit_id])
        .returning(Conversation.id)
    )
    conversation_id = created or await _thread_of(db, visit_id)
    assert conversation_id is not None
    if created is not None:
        await _add_members(db, conversation_id, [(patient_id, MemberRole.patient)], actor.id)
        await _audit(
            db, scope, actor, "conversation.opened", conversation_id, visit_id=str(visit_id)
        )
    joined = await db.scalar(
        insert(ConversationMember)
        .values(
            conversation_id=conversation_id,
            user_id=nurse_id,
            role=str(MemberRole.nurse),
            added_by=actor.id,
        )
        .on_conflict_do_nothing()
        .returning(ConversationMember.user_id)
    )
    if joined is not None:
        await _changed(db, scope, actor, conversation_id, "member_added", nurse_id)
    return conversation_id


async def leave_visit_thread(
    db: AsyncSession, scope: CallScope, actor: Actor, *, visit_id: uuid.UUID, nurse_id: uuid.UUID
) -> None:
    """A nurse no longer the visit's leaves its conversation: they read nothing of it after."""
    conversation_id = await _thread_of(db, visit_id)
    if conversation_id is None:
        return
    left = await db.scalar(
        delete(ConversationMember)
        .where(
            ConversationMember.conversation_id == conversation_id,
            ConversationMember.user_id == nurse_id,
        )
        .returning(ConversationMember.user_id)
        .execution_options(synchronize_session=False)
    )
    if left is not None:
        await _changed(db, scope, actor, conversation_id, "member_removed", nurse_id)


async def close_visit_thread(
    db: AsyncSession, scope: CallScope, actor: Actor, *, visit_id: uuid.UUID
) -> None:
    """The visit is over: its conversation stays readable by its members, no one writes in it."""
    now = datetime.now(UTC)
    conversation_id = await db.scalar(
        update(Conversation)
        .where(Conversation.visit_id == visit_id, Conversation.closed_at.is_(None))
        .values(closed_at=now, closed_by=actor.id)
        .returning(Conversation.id)
        .execution_options(synchronize_session=False)
    )
    if conversation_id is None:
        return
    await _audit(db, scope, actor, "conversation.closed", conversation_id, None, because="visit")
    data = {"closed_at": now.isoformat(), "closed_by": str(actor.id)}
    publish_after_commit(db, topic_of(conversation_id), "conversation.closed", data)


async def _changed(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    conversation_id: uuid.UUID,
    change: str,
    nurse_id: uuid.UUID,
) -> None:
    await _audit(
        db, scope, actor, f"conversation.{change}", conversation_id, member_id=str(nurse_id)
    )
    data = {"user_id": str(nurse_id), "role": str(MemberRole.nurse)}
    event = "member.added" if change == "member_added" else "member.removed"
    publish_after_commit(db, topic_of(conversation_id), event, data)


async def visit_threads(
    db: AsyncSession, user_id: uuid.UUID, visit_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    """The conversations of these visits that ``user_id`` is a member of, by visit."""
    if not visit_ids:
        return {}
    rows = await db.execute(
        select(Conversation.visit_id, Conversation.id)
        .join(ConversationMember, ConversationMember.conversation_id == Conversation.id)
        .where(Conversation.visit_id.in_(list(visit_ids)), ConversationMember.user_id == user_id)
    )
    return {visit_id: conversation_id for visit_id, conversation_id in rows if visit_id}
