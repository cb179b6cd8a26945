"""Erasure requests, and the storage objects an erasure or a purge still has to delete."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from carebridge.platform.models import Model


class ErasureRequest(Model):
    """A patient's request to be erased. Open until it is cancelled or carried out; what was
    held is purged when ``hold_until`` has passed. ``patient_id`` is not a foreign key: the
    request outlives the account (it is the proof that the erasure was asked for and done)."""

    __tablename__ = "erasure_requests"

    patient_id: Mapped[uuid.UUID]
    requested_by: Mapped[uuid.UUID]
    due_at: Mapped[datetime]
    cancelled_at: Mapped[datetime | None]
    erased_at: Mapped[datetime | None]
    hold_until: Mapped[datetime | None]
    purged_at: Mapped[datetime | None]
    postponed: Mapped[int] = mapped_column(server_default="0")
    # Rows per table at the erasure and at the purge: counts only, never content.
    erased_rows: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    purged_rows: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))

    __table_args__ = (
        Index(
            "uq_erasure_requests_open",
            "patient_id",
            unique=True,
            postgresql_where=text("cancelled_at IS NULL AND erased_at IS NULL"),
        ),
        Index(
            "ix_erasure_requests_due",
            "due_at",
            postgresql_where=text("cancelled_at IS NULL AND erased_at IS NULL"),
        ),
        Index(
            "ix_erasure_requests_held",
            "hold_until",
            postgresql_where=text("erased_at IS NOT NULL AND purged_at IS NULL"),
        ),
    )


class ErasureFile(Model):
    """A storage object an erasure or a purge deleted the row of: written in the same
    transaction, deleted from storage after the commit, then this row goes (a sweep retries
    what a dead worker left)."""

    __tablename__ = "erasure_files"

    storage_key: Mapped[str] = mapped_column(String(400), unique=True)
    erasure_id: Mapped[uuid.UUID]
