"""Security alerts raised by the detection rules (``compliance/detection.py``), and how far the
rules have read the audit trail."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from carebridge.platform.models import Base, Model


class SecurityAlert(Model):
    """One alert: a rule that fired on the audit trail. At most one per rule, scope (the actor,
    the address, ...) and window: the rule firing again in the same window adds nothing."""

    __tablename__ = "security_alerts"

    rule: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    # What the alert is deduplicated on besides the rule and window: an actor's id, an address.
    scope_key: Mapped[str] = mapped_column(String(160))
    # As on the audit trail: ids, not references (an account erased since keeps its alerts).
    actor_id: Mapped[uuid.UUID | None]
    ip: Mapped[str | None] = mapped_column(String(64))
    subject_id: Mapped[uuid.UUID | None]
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    # Counts, thresholds and ids: never PHI.
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    raised_at: Mapped[datetime] = mapped_column(server_default=func.now())
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )

    __table_args__ = (
        CheckConstraint("severity IN ('medium', 'high')", name="severity"),
        CheckConstraint("window_start < window_end", name="window"),
        Index(
            "uq_security_alerts_rule_scope_window",
            "rule",
            "scope_key",
            "window_start",
            unique=True,
        ),
        Index("ix_security_alerts_raised_at", "raised_at", "id"),
    )


class TrailPosition(Base):
    """How far a reader of final audit events got, in the trail's ``(xact, seq)`` order
    (``compliance/final.py``). Its row is locked while the reader works, so two workers never
    read the same events."""

    __tablename__ = "audit_trail_positions"

    reader: Mapped[str] = mapped_column(String(32), primary_key=True)
    xact: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    seq: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())
