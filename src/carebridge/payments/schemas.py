"""Answers of the payments API. Amounts are integers in the currency's minor units (cents)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from carebridge.payments.models import PaymentStatus


class PaymentOut(BaseModel):
    """One payment of one appointment."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    appointment_id: uuid.UUID
    patient_id: uuid.UUID
    provider: str = Field(description="`offline` (paid at the clinic) or `stripe`")
    amount: int = Field(description="Minor units of `currency`")
    currency: str
    status: PaymentStatus = Field(
        description="`requires_payment`, `succeeded`, `failed`, `cancelled`, `refund_pending` "
        "(a refund is on its way) or `refunded`"
    )
    failure_reason: str | None
    paid_at: datetime | None
    refund_requested_at: datetime | None
    refunded_at: datetime | None
    created_at: datetime


class PaymentIntentOut(BaseModel):
    """What a client needs to take the payment with Stripe.js (`stripe.confirmPayment` with
    `client_secret`)."""

    payment_id: uuid.UUID
    appointment_id: uuid.UUID
    provider: str
    provider_payment_id: str = Field(description="Stripe's PaymentIntent id (`pi_...`)")
    client_secret: str | None = Field(
        description="Give it to Stripe.js in the patient's browser; never log or store it"
    )
    amount: int = Field(description="Minor units of `currency`")
    currency: str
    status: str = Field(description="The PaymentIntent's status at Stripe")
    hold_expires_at: datetime | None = Field(
        description="Pay before this instant, or the slot is released"
    )


class WebhookOut(BaseModel):
    received: bool = True
    duplicate: bool = Field(description="The event had been received before: nothing changed")
    outcome: str
