"""Payments of appointments. Scheduling calls :func:`on_booked` and :func:`on_cancelled` inside
its own transaction; providers are reached only outside it (jobs, or the patient's request to
pay)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.config import Settings
from carebridge.payments.models import Payment, PaymentStatus
from carebridge.scheduling.models import Appointment


async def on_booked(db: AsyncSession, settings: Settings, appointment: Appointment) -> None:
    """A booking with a fee gets its payment row: paid at the clinic (offline) or online."""
    if appointment.fee <= 0 or appointment.currency is None:
        return
    db.add(
        Payment(
            appointment_id=appointment.id,
            patient_id=appointment.patient_id,
            provider=settings.payment_provider,
            amount=appointment.fee,
            currency=appointment.currency,
            status=PaymentStatus.requires_payment,
        )
    )
    await db.flush()


async def on_cancelled(
    db: AsyncSession, settings: Settings, appointment: Appointment, *, refund: bool
) -> None:
    """An unpaid payment is cancelled with its booking."""
    payment = await db.scalar(
        select(Payment).where(Payment.appointment_id == appointment.id).with_for_update()
    )
    if payment is not None and payment.status == PaymentStatus.requires_payment:
        payment.status = PaymentStatus.cancelled
