"""A patient's data export: requested by the patient (or an admin on their behalf), built by a
job into one ZIP sealed in the storage, downloadable by the patient until it expires."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from carebridge.platform.models import Model


class ExportStatus(StrEnum):
    pending = "pending"  # written with the request; the job has not claimed it yet
    building = "building"  # claimed by a job (``claimed_at``); a stale claim is taken over
    ready = "ready"  # stored, downloadable until ``expires_at``
    failed = "failed"  # gave up after its attempts
    expired = "expired"  # its file deleted


# An export still being made: one per patient at a time.
IN_PROGRESS = (ExportStatus.pending, ExportStatus.building)


class DataExport(Model):
    __tablename__ = "data_exports"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    requested_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    on_behalf: Mapped[bool] = mapped_column(server_default=text("false"))
    status: Mapped[str] = mapped_column(String(16), server_default=ExportStatus.pending.value)
    claimed_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(server_default=text("0"))
    ready_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    size: Mapped[int | None] = mapped_column(BigInteger)
    storage_key: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'building', 'ready', 'failed', 'expired')", name="status"
        ),
        CheckConstraint(
            "status <> 'ready' OR (storage_key IS NOT NULL AND expires_at IS NOT NULL)",
            name="ready",
        ),
        Index(
            "uq_data_exports_in_progress",
            "patient_id",
            unique=True,
            postgresql_where=text("status IN ('pending', 'building')"),
        ),
        Index("ix_data_exports_patient_created", "patient_id", "created_at"),
        Index(
            "ix_data_exports_open",
            "status",
            postgresql_where=text("status IN ('pending', 'building', 'ready')"),
        ),
    )
