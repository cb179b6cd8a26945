"""Tables of payments: one payment per paid appointment, and every provider event received once.

A payment's status only moves forward (``requires_payment`` → ``succeeded`` →
``refund_pending`` → ``refunded``, or ``failed``/``cancelled``); an event that arrives late (a
failure after a success) is recorded and changes nothing, so events arriving in any order converge
on the same state. A success that arrives for a payment already ``failed`` or ``cancelled`` (the
hold lapsed) still counts as money received, and is refunded.

``refund_pending`` is the row that makes a refund impossible to lose: it is written in the
transaction that decides the refund (a cancellation, a late success), a job keyed by the payment
performs it at the provider, and a periodic sweep re-queues the ones left pending.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from carebridge.platform.models import Base, Model


class PaymentStatus(StrEnum):
    requires_payment = "requires_payment"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"  # the hold lapsed or the booking was cancelled before payment
    refund_pending = "refund_pending"  # decided; the job has not reached the provider yet
    refunded = "refunded"


class Payment(Model):
    __tablename__ = "payments"

    appointment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("appointments.id", ondelete="RESTRICT"), unique=True
    )
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    provider: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int]  # minor units
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20))
    provider_payment_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    provider_refund_id: Mapped[str | None] = mapped_column(String(255))
    failure_reason: Mapped[str | None] = mapped_column(String(500))
    paid_at: Mapped[datetime | None]
    refund_requested_at: Mapped[datetime | None]
    refunded_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint("amount >= 0", name="amount"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency"),
        CheckConstraint(
            "status IN ('requires_payment', 'succeeded', 'failed', 'cancelled', "
            "'refund_pending', 'refunded')",
            name="status",
        ),
        CheckConstraint("provider IN ('offline', 'stripe')", name="provider"),
        CheckConstraint(
            "status NOT IN ('refund_pending', 'refunded') OR refund_requested_at IS NOT NULL",
            name="refund_requested",
        ),
        # A patient's history, newest first (keyset pages).
        Index("ix_payments_patient_created", "patient_id", "created_at", "id"),
        # The sweep of refunds left pending.
        Index(
            "ix_payments_refund_pending",
            "refund_requested_at",
            postgresql_where=text("status = 'refund_pending'"),
        ),
    )


class ProviderEvent(Base):
    """Each webhook event is processed once: its id is the primary key, inserted first."""

    __tablename__ = "payment_provider_events"

    provider: Mapped[str] = mapped_column(String(16), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    payment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("payments.id", ondelete="SET NULL")
    )
    outcome: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (Index("ix_payment_provider_events_received", "received_at"),)
