"""Conversations between a patient and their care team, their members and their messages.

A conversation is an appointment's (one per appointment, opened when it is booked), a care
thread (a patient and a doctor who has had an appointment with them, at most one per pair), or a
home visit's (one per visit, between its patient and the nurse who took it; no doctor).
Messages are numbered per conversation without gaps (``conversations.last_seq``, advanced in the
transaction that inserts the message) and carry the id their sender's client chose, so a retried
send stores one message. The text is sealed with the keyring (``messaging/sealed.py``); a deleted
message keeps its row, without text, as a tombstone.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from carebridge.platform.models import Base, Model


class ConversationKind(StrEnum):
    appointment = "appointment"
    care = "care"
    visit = "visit"


class MemberRole(StrEnum):
    patient = "patient"
    doctor = "doctor"
    nurse = "nurse"


class Conversation(Model):
    __tablename__ = "conversations"

    kind: Mapped[str] = mapped_column(String(16))
    # The appointment's conversation names it; a care thread names none.
    appointment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("appointments.id", ondelete="CASCADE"), unique=True
    )
    # The home visit's conversation names it (the visits domain opens it, messaging/service.py
    # ``open_visit_thread``).
    visit_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("home_visits.id", ondelete="CASCADE"), unique=True
    )
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # The doctor responsible: the appointment's, or the one the care thread is with; a visit's
    # conversation has none (its nurse is a member).
    doctor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    opened_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    last_seq: Mapped[int] = mapped_column(Integer, server_default="0")
    last_message_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (
        CheckConstraint("kind IN ('appointment', 'care', 'visit')", name="kind"),
        CheckConstraint(
            "(kind = 'appointment') = (appointment_id IS NOT NULL)", name="appointment_kind"
        ),
        CheckConstraint("(kind = 'visit') = (visit_id IS NOT NULL)", name="visit_kind"),
        CheckConstraint("(kind = 'visit') = (doctor_id IS NULL)", name="doctor_unless_visit"),
        CheckConstraint("last_seq >= 0", name="last_seq"),
        CheckConstraint("patient_id <> doctor_id", name="two_people"),
        # One care thread per patient and doctor.
        Index(
            "uq_conversations_care_pair",
            "patient_id",
            "doctor_id",
            unique=True,
            postgresql_where=text("kind = 'care'"),
        ),
    )


class ConversationMember(Base):
    """Who is in a conversation, and how far they have read."""

    __tablename__ = "conversation_members"

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(16))
    added_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    added_at: Mapped[datetime] = mapped_column(server_default=func.now())
    last_read_seq: Mapped[int] = mapped_column(Integer, server_default="0")
    # The last message_received notification (at most one per conversation per window).
    notified_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint("role IN ('patient', 'doctor', 'nurse')", name="role"),
        CheckConstraint("last_read_seq >= 0", name="last_read_seq"),
        # A person's conversations (the inbox, the unread total).
        Index("ix_conversation_members_user", "user_id"),
    )


class Message(Model):
    __tablename__ = "messages"

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    seq: Mapped[int] = mapped_column(Integer)
    sender_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The id the sender's client chose: a retried send finds the message it stored.
    client_id: Mapped[uuid.UUID]
    # Sealed text (messaging/sealed.py); None once deleted (the tombstone).
    body_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    edited_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    deleted_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )

    __table_args__ = (
        CheckConstraint("seq >= 1", name="seq"),
        CheckConstraint("(deleted_at IS NULL) = (body_sealed IS NOT NULL)", name="tombstone"),
        UniqueConstraint("conversation_id", "seq", name="uq_messages_conversation_seq"),
        UniqueConstraint("conversation_id", "sender_id", "client_id", name="uq_messages_client_id"),
    )


class MessagingConnection(Base):
    """A person's open WebSocket, kept fresh by its process: a member with one is not sent a
    ``message_received`` notification (they see the message live). Rows of a dead process go
    stale and stop counting."""

    __tablename__ = "messaging_connections"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    process_id: Mapped[str] = mapped_column(String(64), index=True)
    seen_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
