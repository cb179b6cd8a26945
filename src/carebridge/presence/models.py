"""Presence state lives in the database, not in one process: any API process may change it and
every process reads the same truth."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Sequence, String, text
from sqlalchemy.orm import Mapped, mapped_column

from carebridge.platform.models import Base


class Status(StrEnum):
    online = "online"
    busy = "busy"  # in a consultation: visible, but not announced to followers
    offline = "offline"


# Every status change takes the next number: a client orders the deltas it sees by it.
presence_version = Sequence("presence_version_seq", metadata=Base.metadata)


class DoctorPresence(Base):
    """One row per doctor who ever set a status; no row means offline."""

    __tablename__ = "doctor_presence"

    doctor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(16), server_default=Status.offline.value)
    version: Mapped[int] = mapped_column(BigInteger)
    changed_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    last_online_at: Mapped[datetime | None]
    # Set when the doctor's last live connection closed; cleared when one opens.
    disconnected_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint("status IN ('online', 'busy', 'offline')", name="status"),
        Index("ix_doctor_presence_live", "status", postgresql_where=text("status <> 'offline'")),
    )


class PresenceConnection(Base):
    """A doctor's open WebSocket, kept fresh by its process; stale rows belong to dead processes."""

    __tablename__ = "presence_connections"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    doctor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    process_id: Mapped[str] = mapped_column(String(64), index=True)
    seen_at: Mapped[datetime] = mapped_column(server_default=text("now()"))


class Follow(Base):
    """A patient asked to be told when a doctor comes online."""

    __tablename__ = "doctor_follows"

    patient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    doctor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    last_notified_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_doctor_follows_doctor", "doctor_id", "patient_id"),)
