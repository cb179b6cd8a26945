"""A correctly signed webhook event that does not describe the payment it names (another amount,
another currency, another PaymentIntent) leaves the booking unpaid, is logged, audited and put
before the admins (in-app and by email, through a real SMTP server); the right one still pays."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from carebridge.accounts.models import Role
from carebridge.app import create_app
from carebridge.compliance.models import AuditEvent
from carebridge.config import Settings
from carebridge.notifications.models import Notification
from carebridge.platform.db import Database
from tests.factories import MakeUser, serving, work
from tests.factories.notifications import SmtpSink
from tests.factories.payments import (
    BookWith,
    FakeStripe,
    HoldFor,
    clear_jobs,
    failed_intent,
    send_event,
    start_payment,
    state,
    stripe_intent,
    stripe_settings_for,
    succeeded_intent,
)

# Each changes the right intent of a 150.00 CAD booking into a wrong one.
WRONG: dict[str, dict[str, Any]] = {
    "amount": {"amount": 1, "amount_received": 1},
    "currency": {"currency": "jpy"},  # 15000 yen (a zero-decimal currency) is not 150.00 CAD
    "intent": {"id": "pi_someone_else"},  # another PaymentIntent naming the same payment
    "amount,currency": {"amount": 1, "amount_received": 1, "currency": "jpy"},  # 1 JPY
}
HELD = ("pending_payment", "requires_payment")


@pytest.fixture
def stripe_settings(
    settings: Settings,
    stripe_server: FakeStripe,
    smtp: tuple[SmtpSink, int],
) -> Settings:
    """A clinic in Canada (fees in CAD), paid through the local Stripe; email through the local
    SMTP server."""
    return stripe_settings_for(settings, stripe_server).model_copy(
        update={
            "currency": "CAD",
            "mail_transport": "smtp",
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp[1],
            "smtp_security": "none",
        }
    )


async def _alerts(database: Database, admin_id: object) -> list[Notification]:
    async with database.sessionmaker() as db:
        rows = await db.scalars(
            select(Notification).where(
                Notification.recipient_id == admin_id, Notification.kind == "admin_alert"
            )
        )
        return list(rows)


def _text(message: Any) -> str:
    return str(
        next(
            part.get_payload(decode=True).decode()
            for part in message.walk()
            if part.get_content_type() == "text/plain"
        )
    )


async def test_an_event_that_does_not_match_leaves_the_booking_unpaid_and_alerts_the_admins(
    pay_client: httpx.AsyncClient,
    held_booking: HoldFor,
    make_user: MakeUser,
    database: Database,
    stripe_settings: Settings,
    smtp: tuple[SmtpSink, int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    admin = await make_user(Role.admin)
    held = await held_booking(fee=15000)
    started = await start_payment(pay_client, held)
    right = succeeded_intent(stripe_intent(started))

    with caplog.at_level(logging.WARNING):
        for name, change in WRONG.items():
            answer = await send_event(
                pay_client, "payment_intent.succeeded", {**right, **change}, f"evt_{name}"
            )
            # 200: Stripe must not retry it for days; the event is on record, handled.
            assert answer.status_code == 200, answer.text
            assert answer.json() == {"received": True, "duplicate": False, "outcome": "mismatch"}
            assert await state(database, held.appointment_id) == HELD, name
        again = await send_event(
            pay_client, "payment_intent.succeeded", {**right, **WRONG["amount"]}, "evt_amount"
        )
        assert again.json()["duplicate"] is True

    logged = [
        r.msg
        for r in caplog.records
        if isinstance(r.msg, dict) and r.msg.get("event") == "payment_mismatch"
    ]
    assert [",".join(line["differences"]) for line in logged] == list(WRONG)
    assert logged[-1]["expected"] == "150.00 CAD"
    assert logged[-1]["received"] == "1 JPY"
    async with database.sessionmaker() as db:
        audited = list(
            await db.scalars(select(AuditEvent).where(AuditEvent.action == "payment.mismatch"))
        )
    assert [(a.outcome, a.details["event_id"]) for a in audited] == [
        ("denied", f"evt_{name}") for name in WRONG
    ]
    alerts = await _alerts(database, admin.id)
    assert len(alerts) == len(WRONG)
    assert {a.data["appointment_id"] for a in alerts} == {str(held.appointment_id)}
    async with database.sessionmaker() as db:
        told = await db.scalars(
            select(Notification.title).where(Notification.recipient_id == held.patient.id)
        )
        assert list(told) == ["Appointment held: pay to confirm"]  # when booked; nothing paid

    await work(stripe_settings, database)
    mails = [m for m in smtp[0].messages() if m["To"] == admin.email]
    assert len(mails) == len(WRONG)
    assert {m["Subject"] for m in mails} == {"A payment does not match its booking"}
    one_yen = next(_text(m) for m in mails if "(1 JPY)" in _text(m))
    assert "150.00 CAD" in one_yen
    assert str(held.appointment_id) in one_yen

    paid = await send_event(pay_client, "payment_intent.succeeded", right)
    assert paid.json()["outcome"] == "paid"
    assert await state(database, held.appointment_id) == ("scheduled", "succeeded")


async def test_a_failure_of_another_intent_does_not_release_the_booking(
    pay_client: httpx.AsyncClient,
    held_booking: HoldFor,
    make_user: MakeUser,
    database: Database,
) -> None:
    admin = await make_user(Role.admin)
    held = await held_booking()
    started = await start_payment(pay_client, held)
    other = failed_intent({**stripe_intent(started), "id": "pi_someone_else"})
    answer = await send_event(pay_client, "payment_intent.payment_failed", other)
    assert answer.json()["outcome"] == "mismatch"
    assert await state(database, held.appointment_id) == HELD
    assert len(await _alerts(database, admin.id)) == 1


async def test_an_intent_that_names_no_payment_of_ours_is_acknowledged_and_logged(
    pay_client: httpx.AsyncClient,
    make_user: MakeUser,
    database: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Another system on the same Stripe account: nothing of ours to hold it against."""
    admin = await make_user(Role.admin)
    with caplog.at_level(logging.WARNING):
        answer = await send_event(
            pay_client,
            "payment_intent.succeeded",
            succeeded_intent({"id": "pi_elsewhere", "amount": 100, "currency": "usd"}),
        )
    assert answer.json()["outcome"] == "unknown_payment"
    assert any(
        isinstance(r.msg, dict) and r.msg.get("event") == "payment_event_unknown"
        for r in caplog.records
    )
    assert await _alerts(database, admin.id) == []


async def test_a_zero_decimal_currency_is_compared_as_stripe_writes_it(
    stripe_settings: Settings, book_with: BookWith, database: Database
) -> None:
    """A clinic in Japan: 15000 JPY is 15000 at Stripe (no minor unit): no conversion, and "jpy"
    is "JPY"."""
    yen = stripe_settings.model_copy(update={"currency": "JPY"})
    async with serving(create_app(yen, database=database)) as pay_client:
        try:
            await _pay_in_yen(pay_client, book_with, database)
        finally:
            await clear_jobs()


async def _pay_in_yen(
    pay_client: httpx.AsyncClient, book_with: BookWith, database: Database
) -> None:
    held = await book_with(pay_client, fee=15000)
    started = await start_payment(pay_client, held)
    assert (started["amount"], started["currency"]) == (15000, "JPY")
    intent = succeeded_intent(stripe_intent(started))
    assert (intent["amount"], intent["currency"]) == (15000, "jpy")
    answer = await send_event(pay_client, "payment_intent.succeeded", intent)
    assert answer.json()["outcome"] == "paid"
    assert await state(database, held.appointment_id) == ("scheduled", "succeeded")
    async with database.sessionmaker() as db:
        body = await db.scalar(
            select(Notification.body).where(
                Notification.recipient_id == held.patient.id,
                Notification.kind == "payment_changed",
            )
        )
    assert body == "Your payment of 15000 JPY was received."
