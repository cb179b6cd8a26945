"""Paying for a booking with Stripe (a local Stripe server), the webhook, refunds, history."""

from __future__ import annotations

import asyncio
import hmac
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import stripe
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from carebridge.accounts.models import Role, User, UserStatus
from carebridge.app import create_app
from carebridge.compliance.models import AuditEvent
from carebridge.config import Settings
from carebridge.notifications.models import Notification
from carebridge.payments.models import Payment, ProviderEvent
from carebridge.payments.service import perform_refund
from carebridge.payments.tasks import sweep_refunds_task
from carebridge.platform.db import Database
from carebridge.platform.passwords import hash_password
from carebridge.scheduling.models import Appointment
from carebridge.scheduling.tasks import release_lapsed_holds
from tests.factories import MakeUser, TokenFor, work
from tests.factories.payments import (
    WEBHOOK_SECRET,
    FakeStripe,
    Held,
    HoldFor,
    clear_jobs,
    event_body,
    failed_intent,
    paid,
    send_event,
    signed,
    start_payment,
    state,
    stripe_intent,
    stripe_settings_for,
    succeeded_intent,
)

WEBHOOK = "/api/v1/payments/stripe/webhook"


async def notices(
    database: Database, user_id: uuid.UUID, kind: str = "payment_changed"
) -> list[str]:
    async with database.sessionmaker() as db:
        rows = await db.scalars(
            select(Notification.title).where(
                Notification.recipient_id == user_id, Notification.kind == kind
            )
        )
        # Sorted: in a test's one outer transaction every row has the same created_at.
        return sorted(rows)


async def payment_of(database: Database, appointment_id: uuid.UUID) -> Payment:
    async with database.sessionmaker() as db:
        found = await db.scalar(select(Payment).where(Payment.appointment_id == appointment_id))
    assert found is not None
    return found


class TestPayForAppointment:
    async def test_callers_that_are_refused(
        self,
        pay_client: httpx.AsyncClient,
        held_booking: HoldFor,
        make_user: MakeUser,
        token_for: TokenFor,
    ) -> None:
        held = await held_booking()
        url = f"/api/v1/appointments/{held.appointment_id}/payment"
        assert (await pay_client.post(url)).status_code == 401
        assert (await pay_client.post(url, headers=held.doctor_headers)).status_code == 403
        stranger = await token_for(await make_user(Role.patient))
        refused = await pay_client.post(url, headers=stranger)
        assert refused.status_code == 404, refused.text
        missing = await pay_client.post(
            f"/api/v1/appointments/{uuid.uuid4()}/payment", headers=held.headers
        )
        assert missing.status_code == 404

    async def test_creates_the_intent_once_and_answers_it_again(
        self,
        pay_client: httpx.AsyncClient,
        held_booking: HoldFor,
        stripe_server: FakeStripe,
        database: Database,
    ) -> None:
        held = await held_booking(fee=5000)
        first = await start_payment(pay_client, held)
        payment = await payment_of(database, held.appointment_id)
        assert first["amount"] == 5000
        assert first["currency"] == "EUR"
        assert first["client_secret"].startswith(first["provider_payment_id"] + "_secret_")
        assert first["status"] == "requires_payment_method"
        assert first["payment_id"] == str(payment.id)
        assert payment.provider_payment_id == first["provider_payment_id"]
        created = stripe_server.intents[first["provider_payment_id"]]
        assert created["amount"] == 5000
        assert created["currency"] == "eur"
        assert created["metadata"]["payment_id"] == str(payment.id)

        again = await start_payment(pay_client, held)
        assert again["client_secret"] == first["client_secret"]
        posts = [r for r in stripe_server.requests if r[:2] == ("POST", "/v1/payment_intents")]
        assert posts == [("POST", "/v1/payment_intents", f"payment-{payment.id}")]
        assert ("GET", f"/v1/payment_intents/{first['provider_payment_id']}", None) in (
            stripe_server.requests
        )

    async def test_offline_provider_answers_a_clear_409(
        self,
        client: httpx.AsyncClient,
        book_with: Callable[..., Awaitable[Held]],
    ) -> None:
        held = await book_with(client, fee=5000)  # the default app: paid at the clinic
        answer = await client.post(
            f"/api/v1/appointments/{held.appointment_id}/payment", headers=held.headers
        )
        assert answer.status_code == 409, answer.text
        assert answer.json()["code"] == "payment_offline"

    async def test_a_booking_no_longer_held_is_not_payable(
        self, pay_client: httpx.AsyncClient, held_booking: HoldFor
    ) -> None:
        held = await held_booking()
        cancelled = await pay_client.post(
            f"/api/v1/appointments/{held.appointment_id}/cancel", json={}, headers=held.headers
        )
        assert cancelled.status_code == 200, cancelled.text
        answer = await pay_client.post(
            f"/api/v1/appointments/{held.appointment_id}/payment", headers=held.headers
        )
        assert answer.status_code == 409
        assert answer.json()["code"] == "not_payable"
        assert answer.json()["current_status"] == "cancelled"

    async def test_a_lapsed_hold_is_not_payable(
        self, pay_client: httpx.AsyncClient, held_booking: HoldFor, database: Database
    ) -> None:
        held = await held_booking()
        async with database.transaction() as db:
            await db.execute(
                update(Appointment)
                .where(Appointment.id == held.appointment_id)
                .values(hold_expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        answer = await pay_client.post(
            f"/api/v1/appointments/{held.appointment_id}/payment", headers=held.headers
        )
        assert answer.status_code == 409
        assert answer.json()["code"] == "hold_expired"

    async def test_provider_unreachable_answers_503(
        self,
        pay_client: httpx.AsyncClient,
        held_booking: HoldFor,
        stripe_server: FakeStripe,
        database: Database,
    ) -> None:
        held = await held_booking()
        stripe_server.fail_next = 3  # the first try and the library's two retries
        answer = await pay_client.post(
            f"/api/v1/appointments/{held.appointment_id}/payment", headers=held.headers
        )
        assert answer.status_code == 503, answer.text
        assert answer.json()["code"] == "payment_provider_unavailable"
        assert (await payment_of(database, held.appointment_id)).provider_payment_id is None


class TestWebhook:
    async def test_success_schedules_the_booking_and_tells_the_patient(
        self, pay_client: httpx.AsyncClient, held_booking: HoldFor, database: Database
    ) -> None:
        held = await held_booking()
        await paid(pay_client, held)
        assert await state(database, held.appointment_id) == ("scheduled", "succeeded")
        assert await notices(database, held.patient.id) == ["Payment received"]
        payment = await payment_of(database, held.appointment_id)
        assert payment.paid_at is not None
        async with database.sessionmaker() as db:
            audited = await db.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(
                    AuditEvent.action == "payment.succeeded",
                    AuditEvent.resource_id == str(payment.id),
                )
            )
        assert audited == 1

    async def test_bad_signature_is_400_and_changes_nothing(
        self, pay_client: httpx.AsyncClient, held_booking: HoldFor, database: Database
    ) -> None:
        held = await held_booking()
        intent = await start_payment(pay_client, held)
        payload = event_body(
            "payment_intent.succeeded", succeeded_intent({"id": intent["provider_payment_id"]})
        )
        for headers in (
            signed(payload, secret="whsec_someone_else"),
            {"Stripe-Signature": signed(payload)["Stripe-Signature"].replace("v1=", "v1=0")},
            {},
        ):
            answer = await pay_client.post(WEBHOOK, content=payload, headers=headers)
            assert answer.status_code == 400, answer.text
            assert answer.json()["code"] == "bad_signature"
        tampered = payload.replace("succeeded", "payment_failed")
        answer = await pay_client.post(WEBHOOK, content=tampered, headers=signed(payload))
        assert answer.status_code == 400
        assert await state(database, held.appointment_id) == ("pending_payment", "requires_payment")
        async with database.sessionmaker() as db:
            assert await db.scalar(select(func.count()).select_from(ProviderEvent)) == 0

    async def test_a_body_that_is_not_utf8_is_400_signed_or_not(
        self, pay_client: httpx.AsyncClient
    ) -> None:
        raw = b'{"id": "evt_\xff\xfe", "type": "payment_intent.succeeded"}'
        timestamp = int(time.time())
        mac = hmac.new(WEBHOOK_SECRET.encode(), f"{timestamp}.".encode() + raw, "sha256")
        for headers in ({"Stripe-Signature": f"t={timestamp},v1={mac.hexdigest()}"}, {}):
            answer = await pay_client.post(WEBHOOK, content=raw, headers=headers)
            assert answer.status_code == 400, answer.text
            assert answer.json()["code"] == "bad_payload"

    async def test_stale_timestamp_is_400(
        self, pay_client: httpx.AsyncClient, held_booking: HoldFor, database: Database
    ) -> None:
        held = await held_booking()
        intent = await start_payment(pay_client, held)
        payload = event_body(
            "payment_intent.succeeded", succeeded_intent({"id": intent["provider_payment_id"]})
        )
        old = int(time.time()) - 301
        answer = await pay_client.post(
            WEBHOOK, content=payload, headers=signed(payload, timestamp=old)
        )
        assert answer.status_code == 400, answer.text
        assert answer.json()["code"] == "stale_signature"
        assert await state(database, held.appointment_id) == ("pending_payment", "requires_payment")

    async def test_failure_releases_the_booking(
        self, pay_client: httpx.AsyncClient, held_booking: HoldFor, database: Database
    ) -> None:
        held = await held_booking()
        intent = await start_payment(pay_client, held)
        answer = await send_event(
            pay_client,
            "payment_intent.payment_failed",
            failed_intent(stripe_intent(intent)),
        )
        assert answer.json()["outcome"] == "failed"
        assert await state(database, held.appointment_id) == ("cancelled", "failed")
        payment = await payment_of(database, held.appointment_id)
        assert payment.failure_reason == "Your card was declined."
        assert await notices(database, held.patient.id) == ["Payment failed"]

    async def test_failure_after_success_does_not_undo_the_payment(
        self, pay_client: httpx.AsyncClient, held_booking: HoldFor, database: Database
    ) -> None:
        held = await held_booking()
        intent = await paid(pay_client, held)
        late = await send_event(
            pay_client,
            "payment_intent.payment_failed",
            failed_intent(stripe_intent(intent)),
        )
        assert late.status_code == 200
        assert late.json()["outcome"] == "ignored_succeeded"
        assert await state(database, held.appointment_id) == ("scheduled", "succeeded")
        assert await notices(database, held.patient.id) == ["Payment received"]

    async def test_a_repeated_event_is_applied_once(
        self, pay_client: httpx.AsyncClient, held_booking: HoldFor, database: Database
    ) -> None:
        held = await held_booking()
        intent = await start_payment(pay_client, held)
        body = succeeded_intent(stripe_intent(intent))
        first = await send_event(pay_client, "payment_intent.succeeded", body, "evt_same")
        again = await send_event(pay_client, "payment_intent.succeeded", body, "evt_same")
        assert first.json() == {"received": True, "duplicate": False, "outcome": "paid"}
        assert again.json() == {"received": True, "duplicate": True, "outcome": "duplicate"}
        assert await notices(database, held.patient.id) == ["Payment received"]

    async def test_event_before_the_intent_id_was_saved_is_found_by_metadata(
        self, pay_client: httpx.AsyncClient, held_booking: HoldFor, database: Database
    ) -> None:
        held = await held_booking()
        payment = await payment_of(database, held.appointment_id)
        answer = await send_event(
            pay_client,
            "payment_intent.succeeded",
            succeeded_intent(
                {
                    "id": "pi_early",
                    "amount": 5000,
                    "currency": "eur",
                    "metadata": {"payment_id": str(payment.id)},
                }
            ),
        )
        assert answer.json()["outcome"] == "paid"
        assert (await payment_of(database, held.appointment_id)).provider_payment_id == "pi_early"

    async def test_success_after_the_hold_lapsed_is_refunded(
        self,
        pay_client: httpx.AsyncClient,
        held_booking: HoldFor,
        database: Database,
        stripe_settings: Settings,
        stripe_server: FakeStripe,
    ) -> None:
        held = await held_booking()
        intent = await start_payment(pay_client, held)
        async with database.transaction() as db:
            await db.execute(
                update(Appointment)
                .where(Appointment.id == held.appointment_id)
                .values(hold_expires_at=datetime.now(UTC) - timedelta(minutes=1))
            )
        assert await release_lapsed_holds(database, stripe_settings) == 1
        assert await state(database, held.appointment_id) == ("cancelled", "cancelled")

        late = await send_event(
            pay_client,
            "payment_intent.succeeded",
            succeeded_intent(stripe_intent(intent)),
        )
        assert late.json()["outcome"] == "refund_requested"
        assert await state(database, held.appointment_id) == ("cancelled", "refund_pending")

        await work(stripe_settings, database, "payments")
        payment = await payment_of(database, held.appointment_id)
        assert payment.status == "refunded"
        refunds = stripe_server.refunds_of(intent["provider_payment_id"])
        assert [r["amount"] for r in refunds] == [5000]
        assert payment.provider_refund_id == refunds[0]["id"]
        assert ("POST", "/v1/refunds", f"refund-{payment.id}") in stripe_server.requests
        assert await notices(database, held.patient.id) == [
            "Payment received: refund on its way",
            "Refund issued",
        ]  # sorted

    async def test_unknown_events_are_acknowledged(self, pay_client: httpx.AsyncClient) -> None:
        answer = await send_event(pay_client, "customer.created", {"id": "cus_1"})
        assert answer.status_code == 200
        assert answer.json()["outcome"] == "ignored"
        unknown = await send_event(pay_client, "payment_intent.succeeded", {"id": "pi_nobody"})
        assert unknown.json()["outcome"] == "unknown_payment"

    async def test_no_webhook_without_a_secret(self, client: httpx.AsyncClient) -> None:
        payload = event_body("payment_intent.succeeded", {"id": "pi_1"})
        answer = await client.post(WEBHOOK, content=payload, headers=signed(payload))
        assert answer.status_code == 404


class TestConcurrentDuplicates:
    async def test_the_same_event_ten_times_at_once_is_processed_once(
        self, settings: Settings, engine: AsyncEngine, stripe_server: FakeStripe
    ) -> None:
        """Its own app and connection pool, so the ten requests really run at once; what they
        commit is deleted afterwards. (``engine``: the database is migrated.)"""
        app = create_app(stripe_settings_for(settings, stripe_server))
        event_id = f"evt_{uuid.uuid4().hex}"
        intent_id = f"pi_{uuid.uuid4().hex}"
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
        ):
            database: Database = app.state.runtime.database
            people, appointment_id = await _committed_hold(database, intent_id)
            try:
                answers = await asyncio.gather(
                    *(
                        send_event(
                            http,
                            "payment_intent.succeeded",
                            succeeded_intent({"id": intent_id, "amount": 5000, "currency": "eur"}),
                            event_id,
                        )
                        for _ in range(10)
                    )
                )
                assert [a.status_code for a in answers] == [200] * 10
                assert sorted(a.json()["duplicate"] for a in answers) == [False] + [True] * 9
                assert await state(database, appointment_id) == ("scheduled", "succeeded")
                assert await notices(database, people[1]) == ["Payment received"]
                async with database.sessionmaker() as db:
                    events = await db.scalar(
                        select(func.count())
                        .select_from(ProviderEvent)
                        .where(ProviderEvent.event_id == event_id)
                    )
                assert events == 1
            finally:
                await _delete_committed(database, people, appointment_id, event_id)
                await clear_jobs()


async def _committed_hold(database: Database, intent_id: str) -> tuple[list[uuid.UUID], uuid.UUID]:
    """A doctor, a patient, a held booking and its started payment, committed."""
    async with database.transaction() as db:
        people = [
            User(
                email=f"{role}-{uuid.uuid4().hex[:8]}@clinic.example",
                name=f"Race {role}",
                role=role,
                status=UserStatus.active,
                password_hash=hash_password(secrets.token_urlsafe(12), cost="minimal"),
            )
            for role in (Role.doctor, Role.patient)
        ]
        db.add_all(people)
        await db.flush()
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=9)
        appointment = Appointment(
            doctor_id=people[0].id,
            patient_id=people[1].id,
            type="video",
            status="pending_payment",
            starts_at=start,
            ends_at=start + timedelta(minutes=30),
            blocked_until=start + timedelta(minutes=30),
            time_zone="Europe/Berlin",
            hold_expires_at=datetime.now(UTC) + timedelta(minutes=15),
            fee=5000,
            currency="EUR",
        )
        db.add(appointment)
        await db.flush()
        db.add(
            Payment(
                appointment_id=appointment.id,
                patient_id=people[1].id,
                provider="stripe",
                amount=5000,
                currency="EUR",
                status="requires_payment",
                provider_payment_id=intent_id,
            )
        )
    return [p.id for p in people], appointment.id


async def _delete_committed(
    database: Database, people: list[uuid.UUID], appointment_id: uuid.UUID, event_id: str
) -> None:
    async with database.transaction() as db:
        await db.execute(delete(ProviderEvent).where(ProviderEvent.event_id == event_id))
        await db.execute(delete(Payment).where(Payment.appointment_id == appointment_id))
        await db.execute(delete(Appointment).where(Appointment.id == appointment_id))
        await db.execute(delete(User).where(User.id.in_(people)))


class TestRefunds:
    async def test_a_patient_cancelling_a_paid_booking_in_time_is_refunded_by_the_job(
        self,
        pay_client: httpx.AsyncClient,
        held_booking: HoldFor,
        database: Database,
        stripe_settings: Settings,
        stripe_server: FakeStripe,
    ) -> None:
        held = await held_booking(days=5)  # well before the 24-hour cutoff
        intent = await paid(pay_client, held)
        cancelled = await pay_client.post(
            f"/api/v1/appointments/{held.appointment_id}/cancel", json={}, headers=held.headers
        )
        assert cancelled.status_code == 200, cancelled.text
        assert await state(database, held.appointment_id) == ("cancelled", "refund_pending")
        assert stripe_server.refunds == []  # not called inside the request

        await work(stripe_settings, database, "payments")
        payment = await payment_of(database, held.appointment_id)
        assert payment.status == "refunded"
        assert payment.refunded_at is not None
        refunds = stripe_server.refunds_of(intent["provider_payment_id"])
        assert [r["amount"] for r in refunds] == [5000]
        assert ("POST", "/v1/refunds", f"refund-{payment.id}") in stripe_server.requests
        assert await notices(database, held.patient.id) == ["Payment received", "Refund issued"]

        listed = await pay_client.get("/api/v1/payments", headers=held.headers)
        assert listed.json()["items"][0]["status"] == "refunded"

    async def test_a_refund_run_twice_refunds_once(
        self,
        pay_client: httpx.AsyncClient,
        held_booking: HoldFor,
        database: Database,
        stripe_settings: Settings,
        stripe_server: FakeStripe,
    ) -> None:
        held = await held_booking()
        await paid(pay_client, held)
        await pay_client.post(
            f"/api/v1/appointments/{held.appointment_id}/cancel", json={}, headers=held.headers
        )
        payment = await payment_of(database, held.appointment_id)
        results = [await perform_refund(database, stripe_settings, payment.id) for _ in range(2)]
        assert results == [True, False]
        assert len(stripe_server.refunds) == 1

    async def test_a_failing_provider_leaves_the_refund_pending_for_a_retry(
        self,
        pay_client: httpx.AsyncClient,
        held_booking: HoldFor,
        database: Database,
        stripe_settings: Settings,
        stripe_server: FakeStripe,
    ) -> None:
        held = await held_booking()
        await paid(pay_client, held)
        await pay_client.post(
            f"/api/v1/appointments/{held.appointment_id}/cancel", json={}, headers=held.headers
        )
        payment = await payment_of(database, held.appointment_id)
        stripe_server.fail_next = 3  # the first try and the library's two retries
        with pytest.raises(stripe.APIError):  # the job fails; procrastinate retries it
            await perform_refund(database, stripe_settings, payment.id)
        assert (await payment_of(database, held.appointment_id)).status == "refund_pending"
        assert await perform_refund(database, stripe_settings, payment.id) is True
        assert len(stripe_server.refunds) == 1

    async def test_the_sweep_requeues_a_refund_whose_job_was_lost(
        self,
        pay_client: httpx.AsyncClient,
        held_booking: HoldFor,
        database: Database,
        stripe_settings: Settings,
        stripe_server: FakeStripe,
    ) -> None:
        held = await held_booking()
        await paid(pay_client, held)
        await pay_client.post(
            f"/api/v1/appointments/{held.appointment_id}/cancel", json={}, headers=held.headers
        )
        await clear_jobs()  # the job deferred after the commit is lost
        async with database.transaction() as db:
            await db.execute(
                update(Payment)
                .where(Payment.appointment_id == held.appointment_id)
                .values(refund_requested_at=datetime.now(UTC) - timedelta(minutes=10))
            )
        await sweep_refunds_task.defer_async(timestamp=int(time.time()))
        await work(stripe_settings, database, "payments")
        assert (await payment_of(database, held.appointment_id)).status == "refunded"
        assert len(stripe_server.refunds) == 1


class TestHistory:
    async def test_callers_that_are_refused(
        self, pay_client: httpx.AsyncClient, held_booking: HoldFor
    ) -> None:
        held = await held_booking()
        assert (await pay_client.get("/api/v1/payments")).status_code == 401
        doctor = await pay_client.get("/api/v1/payments", headers=held.doctor_headers)
        assert doctor.status_code == 403

    async def test_own_payments_newest_first_in_pages(
        self,
        pay_client: httpx.AsyncClient,
        held_booking: HoldFor,
        make_user: MakeUser,
        token_for: TokenFor,
        database: Database,
    ) -> None:
        first = await held_booking(days=5)
        second = await held_booking(days=6)
        # Move the second booking to the first patient, so one patient has two payments.
        async with database.transaction() as db:
            await db.execute(
                update(Appointment)
                .where(Appointment.id == second.appointment_id)
                .values(patient_id=first.patient.id)
            )
            await db.execute(
                update(Payment)
                .where(Payment.appointment_id == second.appointment_id)
                .values(patient_id=first.patient.id)
            )
            # One outer transaction gives every row the same created_at: set them apart.
            for appointment_id, age in ((first.appointment_id, 2), (second.appointment_id, 1)):
                await db.execute(
                    update(Payment)
                    .where(Payment.appointment_id == appointment_id)
                    .values(created_at=datetime.now(UTC) - timedelta(minutes=age))
                )
        page = await pay_client.get("/api/v1/payments?limit=1", headers=first.headers)
        assert page.status_code == 200, page.text
        body = page.json()
        assert [i["appointment_id"] for i in body["items"]] == [str(second.appointment_id)]
        assert body["items"][0]["amount"] == 5000
        assert body["items"][0]["currency"] == "EUR"
        assert body["items"][0]["status"] == "requires_payment"
        rest = await pay_client.get(
            "/api/v1/payments",
            params={"limit": 1, "cursor": body["next_cursor"]},
            headers=first.headers,
        )
        assert [i["appointment_id"] for i in rest.json()["items"]] == [str(first.appointment_id)]
        assert rest.json()["next_cursor"] is None

        stranger = await token_for(await make_user(Role.patient))
        assert (await pay_client.get("/api/v1/payments", headers=stranger)).json()["items"] == []
        admin = await token_for(await make_user(Role.admin))
        everyone = await pay_client.get("/api/v1/payments", params={"limit": 100}, headers=admin)
        assert everyone.status_code == 200, everyone.text
        assert {str(first.appointment_id), str(second.appointment_id)} <= {
            i["appointment_id"] for i in everyone.json()["items"]
        }
