"""Tables of prescriptions. The diagnosis and the notes are sealed with the platform keyring
(AES-256-GCM, the key id stored in the ciphertext, the prescription id and the field bound as
associated data). An issued prescription is immutable: a trigger of migration 0012 refuses any
change to its content once ``status`` is ``issued`` (only cancelling it, and the PDF's storage
fields, may change)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from carebridge.platform.models import Model


class PrescriptionStatus(StrEnum):
    draft = "draft"
    issued = "issued"
    cancelled = "cancelled"


class PdfStatus(StrEnum):
    pending = "pending"
    ready = "ready"
    failed = "failed"


class Prescription(Model):
    __tablename__ = "prescriptions"

    appointment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("appointments.id", ondelete="RESTRICT"), index=True
    )
    doctor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(16), server_default="draft")
    diagnosis_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    notes_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    issued_at: Mapped[datetime | None]
    # Printed on the PDF and in its QR code; the public verify page looks it up.
    verification_code: Mapped[str | None] = mapped_column(String(32), unique=True)
    cancelled_at: Mapped[datetime | None]
    cancel_reason: Mapped[str | None] = mapped_column(String(500))
    pdf_status: Mapped[str | None] = mapped_column(String(16))
    pdf_key: Mapped[str | None] = mapped_column(String(300))  # the storage layer's path
    pdf_rendered_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint("status IN ('draft', 'issued', 'cancelled')", name="status"),
        CheckConstraint(
            "pdf_status IS NULL OR pdf_status IN ('pending', 'ready', 'failed')", name="pdf_status"
        ),
        CheckConstraint(
            "status = 'draft' OR (issued_at IS NOT NULL AND verification_code IS NOT NULL) "
            "OR cancelled_at IS NOT NULL",
            name="issued_fields",
        ),
        Index("ix_prescriptions_patient", "patient_id", "created_at"),
        Index("ix_prescriptions_doctor", "doctor_id", "created_at"),
        Index(
            "ix_prescriptions_pdf_pending",
            "issued_at",
            postgresql_where=text("pdf_status = 'pending'"),
        ),
    )


class PrescriptionLine(Model):
    """One medication line, in the order the doctor wrote them."""

    __tablename__ = "prescription_lines"

    prescription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("prescriptions.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(SmallInteger)
    name: Mapped[str] = mapped_column(String(200))
    strength: Mapped[str | None] = mapped_column(String(100))
    dose: Mapped[str | None] = mapped_column(String(100))
    route: Mapped[str | None] = mapped_column(String(50))
    frequency: Mapped[str | None] = mapped_column(String(100))
    duration: Mapped[str | None] = mapped_column(String(100))
    quantity: Mapped[str | None] = mapped_column(String(50))
    refills: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    instructions: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("prescription_id", "position", name="uq_prescription_lines_position"),
        CheckConstraint("refills BETWEEN 0 AND 12", name="refills"),
        CheckConstraint("position BETWEEN 1 AND 50", name="position"),
        CheckConstraint("length(instructions) <= 1000", name="instructions_length"),
    )
