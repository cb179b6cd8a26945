"""Who may see which conversation and what each member may do in it.

A conversation is seen by its members only: anyone else finds nothing (404, exactly as if it did
not exist). Administrators see every conversation's metadata (members, counts, dates) for
support, never a message (:func:`visible_metadata`). The service refuses by these predicates and
the pages show what they allow.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Select, exists, func, select
from sqlalchemy.orm import aliased

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import Role
from carebridge.config import Settings
from carebridge.messaging.models import (
    Conversation,
    ConversationKind,
    ConversationMember,
    Message,
)
from carebridge.scheduling.service import CareHistory

# A message may be edited this long after it was sent.
EDIT_WINDOW = timedelta(minutes=15)
# Roles that may be added to a conversation beside its patient and doctor.
ADDABLE_ROLES = frozenset({Role.nurse, Role.doctor})


def is_member(
    user_id: uuid.UUID | ColumnElement[uuid.UUID],
    conversation_id: ColumnElement[uuid.UUID] | None = None,
) -> ColumnElement[bool]:
    """The condition "``user_id`` is a member of the conversation" (``Conversation.id``, or
    ``conversation_id``: the hand-written statements of ``messaging/queries.py`` render it over
    their own names)."""
    return exists().where(
        ConversationMember.conversation_id
        == (Conversation.id if conversation_id is None else conversation_id),
        ConversationMember.user_id == user_id,
    )


def visible_conversations(actor: Actor) -> Select[Any]:
    """The conversations whose content ``actor`` may read: theirs, as a member."""
    return select(Conversation).where(is_member(actor.id))


def unread_total(user_id: uuid.UUID | ColumnElement[uuid.UUID]) -> ColumnElement[int]:
    """Every unread message of ``user_id`` in all their conversations: per membership, the
    conversation's last number less the member's last read one."""
    mine = aliased(ConversationMember, name="unread_member")
    theirs = aliased(Conversation, name="unread_conversation")
    total = (
        select(func.coalesce(func.sum(theirs.last_seq - mine.last_read_seq), 0))
        .select_from(mine)
        .join(theirs, theirs.id == mine.conversation_id)
        .where(mine.user_id == user_id)
        .scalar_subquery()
    )
    return total


def visible_metadata(actor: Actor) -> Select[Any]:
    """The conversations whose metadata ``actor`` may read: an administrator's, every one."""
    if actor.role == Role.admin:
        return select(Conversation)
    return visible_conversations(actor)


def may_open_care_thread(history: CareHistory) -> bool:
    """A patient and a doctor open a thread once they have had an appointment (past or
    upcoming)."""
    return history.last_ends_at is not None


def may_add_member(actor: Actor, conversation: Conversation, member: bool) -> bool:
    """Its doctors (as members) and administrators add a nurse or another clinician to an open
    conversation."""
    if conversation.closed_at is not None:
        return False
    return actor.role == Role.admin or (actor.role == Role.doctor and member)


def may_close(actor: Actor, conversation: Conversation, member: bool) -> bool:
    """A doctor member closes a conversation (read-only afterwards)."""
    return conversation.closed_at is None and actor.role == Role.doctor and member


class Writable(Protocol):
    """What :func:`write_refusal` reads of a conversation."""

    @property
    def closed_at(self) -> datetime | None: ...
    @property
    def appointment_id(self) -> uuid.UUID | None: ...
    @property
    def kind(self) -> str: ...


def write_refusal(
    settings: Settings,
    actor: Actor,
    conversation: Writable,
    history: CareHistory,
    now: datetime,
) -> str | None:
    """Why ``actor`` (a member) may not write now, or None: a closed conversation is read-only;
    a patient writes while an appointment with its doctor is ahead, or until
    ``messaging_patient_write_days`` after the last one; in a home visit's conversation, while it
    is open (the visit closes it when it ends)."""
    if conversation.closed_at is not None:
        return "conversation_closed"
    if conversation.kind == ConversationKind.visit:
        return None
    if actor.role != Role.patient or history.upcoming:
        return None
    window = timedelta(days=settings.messaging_patient_write_days)
    if history.last_ends_at is not None and now <= history.last_ends_at + window:
        return None
    if conversation.appointment_id is not None and history.last_ends_at is None:
        return None  # an appointment held for payment: its conversation is open already
    return "write_window_closed"


def editable(actor: Actor, message: Message, now: datetime) -> bool:
    """Its sender edits a message that is not deleted, within :data:`EDIT_WINDOW`."""
    return (
        message.sender_id == actor.id
        and message.deleted_at is None
        and now <= message.created_at + EDIT_WINDOW
    )


def deletable(actor: Actor, message: Message) -> bool:
    """Its sender deletes a message (a tombstone stays)."""
    return message.sender_id == actor.id and message.deleted_at is None
