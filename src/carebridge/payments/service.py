"""Payments of appointments.

Scheduling calls :func:`on_booked` and :func:`on_cancelled` inside its own transaction; they only
write rows. The provider is reached from the patient's request to pay (no row lock is held during
the call), from the refund job (between two short transactions of its own) and, the other way
round, by the provider's webhook.

Locks are always taken in the same order as scheduling takes them: the appointment, then its
payment. Webhook events are recorded once (the event id is inserted first, so a concurrent
duplicate waits for the first and then finds it) and converge whatever their order: a failure
after a success changes nothing, and a success for a booking that is no longer held is refunded.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.compliance.service import record
from carebridge.config import Settings
from carebridge.notifications.service import notify
from carebridge.payments.models import Payment, PaymentStatus, ProviderEvent
from carebridge.payments.policy import visible_payments
from carebridge.payments.providers import ProviderEventIn, provider_for
from carebridge.payments.schemas import PaymentIntentOut, PaymentOut, WebhookOut
from carebridge.platform.context import SYSTEM, RequestContext
from carebridge.platform.db import Database, after_commit
from carebridge.platform.errors import Conflict
from carebridge.platform.pagination import Page, keyset_page
from carebridge.scheduling import moves
from carebridge.scheduling import service as scheduling
from carebridge.scheduling.kinds import PAYMENT_CHANGED
from carebridge.scheduling.models import Appointment, AppointmentStatus

log = structlog.get_logger(__name__)

_PAID = frozenset({PaymentStatus.succeeded, PaymentStatus.refund_pending, PaymentStatus.refunded})
_ZERO_DECIMAL = frozenset({"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF"})
_ZERO_DECIMAL |= {"UGX", "VND", "VUV", "XAF", "XOF", "XPF"}


# -- scheduling's hooks (inside its transaction) --------------------------------------------------


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
    """The booking was cancelled (its row is locked by the caller): an unpaid payment is
    cancelled with it; a paid one is refunded when the policy says so."""
    payment = await _locked_payment(db, appointment.id)
    if payment is None:
        return
    if payment.status == PaymentStatus.requires_payment:
        payment.status = PaymentStatus.cancelled
    elif payment.status == PaymentStatus.succeeded and refund and payment.provider != "offline":
        await request_refund(db, payment, "appointment cancelled")


async def request_refund(db: AsyncSession, payment: Payment, reason: str) -> None:
    """Decide a refund: the row says so in this transaction, a job keyed by the payment calls
    the provider after the commit, and the sweep re-queues it if that job is lost."""
    from carebridge.payments.tasks import defer_refund  # tasks import this module

    payment.status = PaymentStatus.refund_pending
    payment.refund_requested_at = datetime.now(UTC)
    await _audit(db, payment, "payment.refund_requested", reason=reason)
    payment_id = payment.id

    async def defer() -> None:
        await defer_refund(payment_id)

    defer.__qualname__ = "defer:payments.refund"
    after_commit(db, defer)


async def _locked_payment(db: AsyncSession, appointment_id: uuid.UUID) -> Payment | None:
    payment: Payment | None = await db.scalar(
        select(Payment)
        .where(Payment.appointment_id == appointment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return payment


# -- the patient pays -----------------------------------------------------------------------------


async def pay(
    db: AsyncSession, settings: Settings, actor: Actor, appointment_id: uuid.UUID
) -> PaymentIntentOut:
    """Create (or find again) the online payment of the patient's held booking. The intent is
    created with an idempotency key of our payment row, so two concurrent requests get the
    same one; no lock is held while the provider is called."""
    appointment = await scheduling.get_appointment(db, actor, appointment_id)
    payment: Payment | None = await db.scalar(
        select(Payment).where(Payment.appointment_id == appointment.id)
    )
    if payment is None or payment.provider == "offline":
        raise Conflict(
            "This appointment is paid at the clinic: there is nothing to pay online.",
            code="payment_offline",
        )
    _check_payable(appointment, payment)
    async with provider_for(settings, payment.provider) as provider:
        if payment.provider_payment_id is not None:
            intent = await provider.get_intent(payment.provider_payment_id)
        else:
            intent = await provider.create_intent(
                key=f"payment-{payment.id}",
                amount=payment.amount,
                currency=payment.currency,
                metadata={
                    "payment_id": str(payment.id),
                    "appointment_id": str(appointment.id),
                },
            )
            await db.execute(
                update(Payment)
                .where(Payment.id == payment.id, Payment.provider_payment_id.is_(None))
                .values(provider_payment_id=intent.id)
            )
    return PaymentIntentOut(
        payment_id=payment.id,
        appointment_id=appointment.id,
        provider=payment.provider,
        provider_payment_id=intent.id,
        client_secret=intent.client_secret,
        amount=payment.amount,
        currency=payment.currency,
        status=intent.status,
        hold_expires_at=appointment.hold_expires_at,
    )


def _check_payable(appointment: Appointment, payment: Payment) -> None:
    if appointment.status != AppointmentStatus.pending_payment:
        raise Conflict(
            f"The appointment is {appointment.status.replace('_', ' ')}: there is nothing to pay.",
            code="not_payable",
            current_status=appointment.status,
        )
    hold = appointment.hold_expires_at
    if hold is not None and hold <= datetime.now(UTC):
        raise Conflict(
            "The time to pay for this booking has run out; please book again.",
            code="hold_expired",
        )
    if payment.status != PaymentStatus.requires_payment:
        raise Conflict(
            f"The payment is {payment.status.replace('_', ' ')}.",
            code="not_payable",
            current_status=payment.status,
        )


# -- the provider tells us ------------------------------------------------------------------------


@dataclass(frozen=True)
class Applied:
    outcome: str
    payment_id: uuid.UUID | None = None


async def receive_webhook(
    db: AsyncSession, settings: Settings, provider_name: str, payload: bytes, signature: str | None
) -> WebhookOut:
    """Verify an event, record it once, and apply it. A duplicate (the provider retries, or
    sends the same event twice at once) is answered as received and changes nothing."""
    # Accepted whenever the webhook is configured, even after a switch to paying at the clinic:
    # events about payments taken before the switch still count.
    async with provider_for(settings, provider_name) as provider:
        event = provider.parse_event(payload, signature)
    recorded = await db.scalar(
        insert(ProviderEvent)
        .values(provider=provider_name, event_id=event.id, type=event.type, outcome="received")
        .on_conflict_do_nothing()
        .returning(ProviderEvent.event_id)
    )
    if recorded is None:
        return WebhookOut(duplicate=True, outcome="duplicate")
    applied = await _apply(db, provider_name, event)
    await db.execute(
        update(ProviderEvent)
        .where(ProviderEvent.provider == provider_name, ProviderEvent.event_id == event.id)
        .values(outcome=applied.outcome, payment_id=applied.payment_id)
    )
    log.info("payment_event", type=event.type, outcome=applied.outcome)
    return WebhookOut(duplicate=False, outcome=applied.outcome)


async def _apply(db: AsyncSession, provider_name: str, event: ProviderEventIn) -> Applied:
    if event.type not in ("payment_intent.succeeded", "payment_intent.payment_failed"):
        return Applied("ignored")
    payment = await _payment_of_event(db, provider_name, event.object)
    if payment is None:
        return Applied("unknown_payment")
    # The appointment first, then the payment: the order scheduling locks them in.
    await db.execute(
        select(Appointment.id).where(Appointment.id == payment.appointment_id).with_for_update()
    )
    locked = await _locked_payment(db, payment.appointment_id)
    assert locked is not None
    if event.type == "payment_intent.succeeded":
        outcome = await _succeeded(db, locked, event.object)
    else:
        outcome = await _failed(db, locked, event.object)
    return Applied(outcome, locked.id)


async def _payment_of_event(
    db: AsyncSession, provider_name: str, intent: Mapping[str, Any]
) -> Payment | None:
    """By the intent's id; failing that by our payment id in its metadata (an event may
    arrive before the request that created the intent has saved its id)."""
    intent_id = str(intent.get("id") or "")
    payment: Payment | None = await db.scalar(
        select(Payment).where(
            Payment.provider == provider_name, Payment.provider_payment_id == intent_id
        )
    )
    if payment is not None:
        return payment
    metadata = intent.get("metadata")
    raw = metadata.get("payment_id") if isinstance(metadata, Mapping) else None
    try:
        payment_id = uuid.UUID(str(raw))
    except ValueError:
        return None
    payment = await db.scalar(
        select(Payment).where(
            Payment.id == payment_id,
            Payment.provider == provider_name,
            Payment.provider_payment_id.is_(None),
        )
    )
    return payment


async def _succeeded(db: AsyncSession, payment: Payment, intent: Mapping[str, Any]) -> str:
    if payment.status in _PAID:
        return f"already_{payment.status}"
    if intent.get("amount") not in (None, payment.amount):
        # We created the intent with the payment's amount; a difference needs a person.
        log.warning("payment_amount_mismatch", payment_id=str(payment.id))
    payment.status = PaymentStatus.succeeded
    payment.paid_at = datetime.now(UTC)
    payment.failure_reason = None
    payment.provider_payment_id = payment.provider_payment_id or str(intent.get("id"))
    await _audit(db, payment, "payment.succeeded")
    held = await moves.mark_paid(db, payment.appointment_id)
    status = held.status if held is not None else await _appointment_status(db, payment)
    if status == AppointmentStatus.cancelled:
        # Money arrived for a booking that is no longer held (the hold lapsed, the payment
        # failed before, or it was cancelled): it goes back.
        await request_refund(db, payment, "booking no longer held")
        await _tell(
            db,
            payment,
            "Payment received: refund on its way",
            f"Your payment of {money(payment)} arrived after the booking had lapsed, so it "
            "will be refunded in full.",
        )
        return "refund_requested"
    await _tell(db, payment, "Payment received", f"Your payment of {money(payment)} was received.")
    return "paid"


async def _failed(db: AsyncSession, payment: Payment, intent: Mapping[str, Any]) -> str:
    if payment.status != PaymentStatus.requires_payment:
        # A late failure (after a success, or after the hold lapsed) changes nothing.
        return f"ignored_{payment.status}"
    error = intent.get("last_payment_error")
    message = error.get("message") if isinstance(error, Mapping) else None
    payment.status = PaymentStatus.failed
    payment.failure_reason = str(message or "The payment was declined.")[:500]
    await _audit(db, payment, "payment.failed")
    await moves.release_unpaid(db, payment.appointment_id, "payment failed")
    await _tell(
        db,
        payment,
        "Payment failed",
        f"Your payment of {money(payment)} did not go through ({payment.failure_reason}); the "
        "booking was released. You can book again.",
    )
    return "failed"


async def _appointment_status(db: AsyncSession, payment: Payment) -> str | None:
    status: str | None = await db.scalar(
        select(Appointment.status).where(Appointment.id == payment.appointment_id)
    )
    return status


# -- refunds (the job and the sweep) -----------------------------------------------------------


@dataclass(frozen=True)
class _RefundWork:
    provider: str
    intent_id: str | None
    amount: int


async def perform_refund(database: Database, settings: Settings, payment_id: uuid.UUID) -> bool:
    """Refund one payment at its provider, if it is still waiting for that. Safe to run twice
    or concurrently: the provider call carries the idempotency key ``refund-<payment id>``, and
    the row is only moved once. Returns whether this run moved it."""
    async with database.transaction() as db:
        payment = await db.get(Payment, payment_id)
        if payment is None or payment.status != PaymentStatus.refund_pending:
            return False
        work = _RefundWork(payment.provider, payment.provider_payment_id, payment.amount)
    refund_id = None
    if work.intent_id is not None and work.provider != "offline":
        async with provider_for(settings, work.provider) as provider:
            made = await provider.refund(
                key=f"refund-{payment_id}", intent_id=work.intent_id, amount=work.amount
            )
        refund_id = made.id or None
    async with database.transaction() as db:
        payment = await db.scalar(
            select(Payment)
            .where(Payment.id == payment_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if payment is None or payment.status != PaymentStatus.refund_pending:
            return False
        payment.status = PaymentStatus.refunded
        payment.provider_refund_id = refund_id
        payment.refunded_at = datetime.now(UTC)
        await _audit(db, payment, "payment.refunded")
        await _tell(
            db,
            payment,
            "Refund issued",
            f"Your payment of {money(payment)} was refunded. It can take a few days to show on "
            "your statement.",
        )
    return True


async def pending_refunds(
    database: Database, *, older_than: timedelta, limit: int = 500
) -> list[uuid.UUID]:
    """Refunds decided longer ago than ``older_than`` and still not performed."""
    async with database.transaction() as db:
        rows = await db.scalars(
            select(Payment.id)
            .where(
                Payment.status == PaymentStatus.refund_pending,
                Payment.refund_requested_at < datetime.now(UTC) - older_than,
            )
            .order_by(Payment.refund_requested_at)
            .limit(limit)
        )
        return list(rows)


# -- history --------------------------------------------------------------------------------------


async def list_payments(
    db: AsyncSession, actor: Actor, *, cursor: str | None, limit: int
) -> Page[PaymentOut]:
    """A patient's own payments (an admin's: everyone's), newest first."""
    page = await keyset_page(db, visible_payments(actor), Payment, cursor=cursor, limit=limit)
    return Page(
        items=[PaymentOut.model_validate(row) for row in page.items], next_cursor=page.next_cursor
    )


# -- notices, audit -------------------------------------------------------------------------------


def money(payment: Payment) -> str:
    """ "50.00 EUR" (minor units shown as the currency writes them)."""
    if payment.currency in _ZERO_DECIMAL:
        return f"{payment.amount} {payment.currency}"
    return f"{payment.amount / 100:.2f} {payment.currency}"


async def _tell(db: AsyncSession, payment: Payment, title: str, body: str) -> None:
    await notify(
        db,
        payment.patient_id,
        PAYMENT_CHANGED.name,
        title,
        body,
        data={
            "payment_id": str(payment.id),
            "appointment_id": str(payment.appointment_id),
            "status": payment.status,
        },
        link=f"/appointments/{payment.appointment_id}",
    )


async def _audit(
    db: AsyncSession,
    payment: Payment,
    action: str,
    context: RequestContext = SYSTEM,
    **details: Any,
) -> None:
    await record(
        db,
        action=action,
        resource_type="payment",
        resource_id=payment.id,
        context=context,
        status=payment.status,
        appointment_id=str(payment.appointment_id),
        **details,
    )
