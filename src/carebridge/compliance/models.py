"""The audit trail: append-only, enforced by the database (see migration 0002)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Identity, Index, String, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from carebridge.platform.models import Base


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, default=uuid.uuid4, server_default=text("gen_random_uuid()")
    )
    # The order of writing (an identity: gaps where a transaction rolled back) and the writing
    # transaction's id (``pg_current_xact_id()``, 64 bits, never wrapping): the seal takes the
    # events of transactions that have all ended, in (xact, seq) order (``compliance/seal.py``).
    seq: Mapped[int] = mapped_column(BigInteger, Identity())
    xact: Mapped[int] = mapped_column(
        BigInteger, server_default=text("(pg_current_xact_id()::text)::bigint")
    )
    at: Mapped[datetime] = mapped_column(server_default=func.now())
    actor_id: Mapped[uuid.UUID | None]
    actor_role: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64))
    resource_type: Mapped[str | None] = mapped_column(String(64))
    resource_id: Mapped[str | None] = mapped_column(String(64))
    # The patient whose data the event is about, where there is one (a record read, a visit, a
    # message): what a patient's access log and the admins' "subject" filter look for.
    subject_id: Mapped[uuid.UUID | None]
    outcome: Mapped[str] = mapped_column(String(16))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(400))
    request_id: Mapped[str | None] = mapped_column(String(128))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))

    __table_args__ = (
        Index("ix_audit_events_actor_at", "actor_id", "at"),
        Index("ix_audit_events_resource", "resource_type", "resource_id"),
        Index("ix_audit_events_action_at", "action", "at"),
        Index("ix_audit_events_subject_at", "subject_id", "at"),
        Index("ix_audit_events_xact_seq", "xact", "seq"),
    )
