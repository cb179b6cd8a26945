"""Payments API: paying for a held booking online, the provider's webhook, payment history."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request

from carebridge.accounts.actors import AnyUser, PatientActor
from carebridge.payments import service
from carebridge.payments.schemas import PaymentIntentOut, PaymentOut, WebhookOut
from carebridge.platform.access import PUBLIC
from carebridge.platform.deps import RuntimeDep, Session
from carebridge.platform.errors import (
    CareBridgeError,
    Conflict,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    Unauthenticated,
)
from carebridge.platform.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, PageOut
from carebridge.platform.problems import problem_responses

router = APIRouter(tags=["payments"])


@router.post(
    "/appointments/{appointment_id}/payment",
    response_model=PaymentIntentOut,
    responses=problem_responses(Unauthenticated, Forbidden, NotFound, Conflict, ServiceUnavailable),
)
async def pay_for_appointment(
    appointment_id: uuid.UUID, actor: PatientActor, db: Session, runtime: RuntimeDep
) -> PaymentIntentOut:
    """Start (or resume) paying for your booking while it is `pending_payment`. Answers the
    Stripe PaymentIntent's `client_secret`: confirm it with Stripe.js in the browser. Calling
    again answers the same PaymentIntent. The booking becomes `scheduled` once Stripe tells
    CareBridge the payment succeeded (watch the appointment or your notifications).

    Codes: `payment_offline` (this clinic takes payment at the clinic), `not_payable` (the
    booking is not waiting for payment; `current_status` says where it is), `hold_expired` (the
    time to pay ran out), `payment_provider_unavailable` (503: try again)."""
    return await service.pay(db, runtime.settings, actor, appointment_id)


@router.post(
    "/payments/stripe/webhook",
    response_model=WebhookOut,
    dependencies=[PUBLIC],
    responses=problem_responses(CareBridgeError, NotFound),
)
async def stripe_webhook(request: Request, db: Session, runtime: RuntimeDep) -> WebhookOut:
    """Stripe's event callbacks (configure this URL in the Stripe dashboard with the events
    `payment_intent.succeeded` and `payment_intent.payment_failed`). Open to the internet: the
    `Stripe-Signature` header must sign the raw body with the endpoint's secret, recently.

    Codes (400): `bad_signature`, `stale_signature` (signed longer ago than the tolerance),
    `bad_payload`. 404 when no webhook secret is configured. An event received before answers
    200 with `duplicate: true` and changes nothing."""
    payload = await request.body()
    signature = request.headers.get("stripe-signature")
    return await service.receive_webhook(db, runtime.settings, "stripe", payload, signature)


@router.get(
    "/payments",
    response_model=PageOut[PaymentOut],
    responses=problem_responses(Unauthenticated, Forbidden),
)
async def list_payments(
    actor: AnyUser,
    db: Session,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
) -> PageOut[PaymentOut]:
    """Your payments, newest first (an administrator sees everyone's). Doctors and nurses are
    refused (`wrong_role`)."""
    page = await service.list_payments(db, actor, cursor=cursor, limit=limit)
    return PageOut(items=page.items, next_cursor=page.next_cursor)
