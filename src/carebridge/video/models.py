"""A video appointment's call: its room (``calls``, made on the first join), the people the doctor
invited (``call_guests``), each time someone joined (``call_participants``: the peer other members
signal to) and the quality its clients reported (``call_quality``). No media is stored."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, CheckConstraint, Float, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from carebridge.platform.models import Base, Model


class ParticipantState(StrEnum):
    waiting = "waiting"  # joined, not yet admitted by the doctor
    in_call = "in_call"
    left = "left"


class LeftReason(StrEnum):
    left = "left"  # hung up
    rejoined = "rejoined"  # the same person joined again (a reload): this peer is replaced
    ended = "ended"  # the doctor ended the call for everyone
    gone = "gone"  # silent longer than CAREBRIDGE_CALL_SILENT_SECONDS
    closed = "closed"  # the room closed (appointment completed, or its grace passed)


class Call(Model):
    __tablename__ = "calls"

    appointment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("appointments.id", ondelete="CASCADE"), unique=True
    )
    connected_at: Mapped[datetime | None]  # the first time two people were in the call
    ended_at: Mapped[datetime | None]  # the last one left, or the doctor ended it
    ended_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The doctor's presence before the call set them busy: given back when they leave it.
    doctor_status_before: Mapped[str | None] = mapped_column(String(16))


class CallGuest(Base):
    """A nurse or another clinician the doctor invited into the call."""

    __tablename__ = "call_guests"

    appointment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("appointments.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    invited_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    invited_at: Mapped[datetime]


class CallParticipant(Model):
    """One join of one person: its id is the peer id others address signals to."""

    __tablename__ = "call_participants"

    call_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))  # patient, doctor, nurse (the account's role)
    state: Mapped[str] = mapped_column(String(16))
    joined_at: Mapped[datetime]
    admitted_at: Mapped[datetime | None]
    admitted_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    left_at: Mapped[datetime | None]
    left_reason: Mapped[str | None] = mapped_column(String(16))
    last_seen_at: Mapped[datetime]
    relayed: Mapped[bool | None] = mapped_column(Boolean)  # media through TURN, as last reported

    __table_args__ = (
        CheckConstraint("state IN ('waiting', 'in_call', 'left')", name="state"),
        CheckConstraint("(state = 'left') = (left_at IS NOT NULL)", name="left_at"),
        # One live peer per person and call: joining again replaces the earlier one.
        Index(
            "uq_call_participants_live",
            "call_id",
            "user_id",
            unique=True,
            postgresql_where=text("state <> 'left'"),
        ),
        Index("ix_call_participants_call", "call_id", "joined_at"),
        # The silence sweep: live peers by when they were last heard.
        Index(
            "ix_call_participants_live_seen",
            "last_seen_at",
            postgresql_where=text("state <> 'left'"),
        ),
    )


class CallQuality(Model):
    """What a member's client measured (``RTCPeerConnection.getStats()``), posted every few
    seconds while in the call."""

    __tablename__ = "call_quality"

    participant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("call_participants.id", ondelete="CASCADE"), index=True
    )
    round_trip_ms: Mapped[float | None] = mapped_column(Float)
    packet_loss: Mapped[float | None] = mapped_column(Float)  # fraction of packets lost, 0..1
    frames_decoded: Mapped[int | None]
    relayed: Mapped[bool | None] = mapped_column(Boolean)

    __table_args__ = (
        CheckConstraint("packet_loss BETWEEN 0 AND 1", name="packet_loss"),
        CheckConstraint("round_trip_ms >= 0", name="round_trip_ms"),
        CheckConstraint("frames_decoded >= 0", name="frames_decoded"),
    )
