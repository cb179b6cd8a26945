"""Payments of appointments.

Scheduling calls :func:`on_booked` and :func:`on_cancelled` inside its own transaction; they only
write rows. The provider is reached from the patient's request to pay (no row lock is held during
the call), from the refund job (between two short transactions of its own) and, the other way
round, by the provider's webhook.

Locks are always taken in the same order as scheduling takes them: the appointment, then its
payment. Webhook events are recorded once (the event id is inserted first, so a concurrent
duplicate waits for the first and then finds it) and converge whatever their order: a failure
after a success changes nothing, and a success for a booking that is no longer held is refunded.
An event is applied only to the payment it describes: the intent we created for it, for its
amount in its currency. Anything else leaves the booking as it is and is put before the admins.
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
from carebridge.notifications.service import notify, notify_admins
from carebridge.payments.models import Payment, PaymentStatus, ProviderEvent
from carebridge.payments.policy import visible_payments
from carebridge.payments.providers import ProviderEventIn, provider_for
from carebridge.payments.schemas import PaymentIntentOut, PaymentOut, WebhookOut
from carebridge.platform.context import SYSTEM, RequestContext
from carebridge.platform.db import Database, after_commit
from carebridge.platform.errors import Conflict
from carebridge.platform.money import format_money
from carebridge.platform.pagination import Page, keyset_page
from carebridge.scheduling import moves
from carebridge.scheduling import service as scheduling
from carebridge.scheduling.hooks import Booking, Cancellation
from carebridge.scheduling.kinds import PAYMENT_CHANGED
from carebridge.scheduling.models import Appointment, AppointmentStatus

log = structlog.get_logger(__name__)

_PAID = frozenset({PaymentStatus.succeeded, PaymentStatus.refund_pending, PaymentStatus.refunded})


# -- scheduling's hooks (inside its transaction; payments/subscriptions.py) -----------------------


async def on_booked(db: AsyncSession, booked: Booking) -> None:
    """A booking with a fee gets its payment row: paid at the clinic (offline) or online."""
    appointment = booked.appointment
    if appointment.fee <= 0 or appointment.currency is None:
        return
    db.add(
        Payment(
            appointment_id=appointment.id,
            patient_id=appointment.patient_id,
            provider=booked.settings.payment_provider,
            amount=appointment.fee,
            currency=appointment.currency,
            status=PaymentStatus.requires_payment,
        )
    )
    await db.flush()


async def on_cancelled(db: AsyncSession, cancelled: Cancellation) -> None:
    """The booking was cancelled (its row is locked by the caller): an unpaid payment is
    cancelled with it; a paid one is refunded when the policy says so."""
    payment = await _locked_payment(db, cancelled.appointment.id)
    if payment is None:
        return
    refund = cancelled.refund
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
        # Not one of ours (CareBridge names its payment in every intent's metadata): another
        # system on the same Stripe account, or a test deployment sharing it.
        log.warning("payment_event_unknown", type=event.type, intent_id=_intent_id(event.object))
        return Applied("unknown_payment")
    # The appointment first, then the payment: the order scheduling locks them in.
    await db.execute(
        select(Appointment.id).where(Appointment.id == payment.appointment_id).with_for_update()
    )
    locked = await _locked_payment(db, payment.appointment_id)
    assert locked is not None
    differences = _differences(locked, event)
    if differences:
        return Applied(await _mismatched(db, locked, event, differences), locked.id)
    if event.type == "payment_intent.succeeded":
        outcome = await _succeeded(db, locked, event.object)
    else:
        outcome = await _failed(db, locked, event.object)
    return Applied(outcome, locked.id)


def _intent_id(intent: Mapping[str, Any]) -> str:
    return str(intent.get("id") or "")


def _minor_units(value: Any) -> int | None:
    # JSON numbers only (a bool is an int to Python): Stripe sends amounts as integers in the
    # currency's smallest unit, as we store them (cents for CAD, yen for JPY).
    return value if type(value) is int else None


def _received(intent: Mapping[str, Any]) -> str:
    amount, currency = _minor_units(intent.get("amount")), intent.get("currency")
    if amount is None or not isinstance(currency, str):
        return f"amount {intent.get('amount')!r} in {currency!r}"
    return format_money(amount, currency.upper())


def _named_payment(intent: Mapping[str, Any]) -> str | None:
    metadata = intent.get("metadata")
    named = metadata.get("payment_id") if isinstance(metadata, Mapping) else None
    return None if named is None else str(named)


def _differences(payment: Payment, event: ProviderEventIn) -> list[str]:
    """What in the event's intent differs from ``payment``: its id (once we know the intent),
    its amount (and, for a success, the amount received) and its currency (Stripe writes ISO
    codes in lower case)."""
    intent = event.object
    differences = []
    known, named = payment.provider_payment_id, _named_payment(intent)
    if (known is not None and _intent_id(intent) != known) or named not in (None, str(payment.id)):
        differences.append("intent")
    amounts = [intent.get("amount")]
    if event.type == "payment_intent.succeeded" and "amount_received" in intent:
        amounts.append(intent["amount_received"])
    if any(_minor_units(amount) != payment.amount for amount in amounts):
        differences.append("amount")
    currency = intent.get("currency")
    if not isinstance(currency, str) or currency.upper() != payment.currency:
        differences.append("currency")
    return differences


async def _mismatched(
    db: AsyncSession, payment: Payment, event: ProviderEventIn, differences: list[str]
) -> str:
    """Leave the payment and its booking as they are, and put the event before a person: the
    money (if any was taken) is for them to return or to match by hand."""
    intent = event.object
    intent_id = _intent_id(intent)
    paid = _received(intent)
    log.warning(
        "payment_mismatch",
        payment_id=str(payment.id),
        event_id=event.id,
        type=event.type,
        intent_id=intent_id,
        differences=differences,
        expected=money(payment),
        received=paid,
    )
    await _audit(
        db,
        payment,
        "payment.mismatch",
        outcome="denied",
        event_id=event.id,
        event_type=event.type,
        intent_id=intent_id,
        differences=differences,
    )
    await notify_admins(
        db,
        "A payment does not match its booking",
        f"Stripe reported {event.type} for PaymentIntent {intent_id} ({paid}), but the "
        f"payment of appointment {payment.appointment_id} is {money(payment)} under "
        f"PaymentIntent {payment.provider_payment_id or '(not yet known)'}: "
        f"{', '.join(differences)} differ. The appointment was left as it was "
        f"({payment.status.replace('_', ' ')}). Check the PaymentIntent in the Stripe "
        "dashboard and refund it if the money should not have been taken.",
        data={
            "payment_id": str(payment.id),
            "appointment_id": str(payment.appointment_id),
            "intent_id": intent_id,
            "event_id": event.id,
            "differences": differences,
        },
        link=f"/appointments/{payment.appointment_id}",
    )
    return "mismatch"


async def _payment_of_event(
    db: AsyncSession, provider_name: str, intent: Mapping[str, Any]
) -> Payment | None:
    """By the intent's id; failing that by our payment id in its metadata (an event may
    arrive before the request that created the intent has saved its id)."""
    intent_id = _intent_id(intent)
    payment: Payment | None = await db.scalar(
        select(Payment).where(
            Payment.provider == provider_name, Payment.provider_payment_id == intent_id
        )
    )
    if payment is not None:
        return payment
    try:
        payment_id = uuid.UUID(str(_named_payment(intent)))
    except ValueError:
        return None
    # Whether or not it already has an intent: one with another id is then a mismatch to show.
    payment = await db.scalar(
        select(Payment).where(Payment.id == payment_id, Payment.provider == provider_name)
    )
    return payment


async def _succeeded(db: AsyncSession, payment: Payment, intent: Mapping[str, Any]) -> str:
    if payment.status in _PAID:
        return f"already_{payment.status}"
    payment.status = PaymentStatus.succeeded
    payment.paid_at = datetime.now(UTC)
    payment.failure_reason = None
    payment.provider_payment_id = payment.provider_payment_id or _intent_id(intent)
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
    """ "50.00 EUR", "15000 JPY" (minor units shown as the currency writes them)."""
    return format_money(payment.amount, payment.currency)


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
