"""A local Stripe: a real HTTP server on 127.0.0.1 speaking the part of Stripe's API that
CareBridge calls (create and retrieve a PaymentIntent, create a Refund, with idempotency keys),
the official library pointed at it by ``stripe_api_base``; webhooks signed with the library's own
helper. Plus a CareBridge app configured for Stripe, and held bookings to pay for; settings of a
clinic that takes payment online (with no Stripe to talk to)."""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import stripe
from pydantic import SecretStr
from sqlalchemy import select

from carebridge.accounts.models import Role, User
from carebridge.app import create_app
from carebridge.config import Settings
from carebridge.payments.models import Payment
from carebridge.platform.db import Database
from carebridge.platform.jobs import job_app
from carebridge.scheduling.models import Appointment
from tests.factories.apps import serving
from tests.factories.directory import MakeDoctor
from tests.factories.scheduling import BERLIN, VIDEO_30, doctor_on_schedule, schedule_body
from tests.factories.users import Headers, MakeUser, TokenFor

SECRET_KEY = "sk_test_local_" + "x" * 16
WEBHOOK_SECRET = "whsec_local_" + "y" * 16


@dataclass
class FakeStripe:
    """What the local Stripe was asked, and what it holds."""

    base_url: str = ""
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # method, path, key
    idempotent: dict[str, dict[str, Any]] = field(default_factory=dict)
    fail_next: int = 0  # answer this many requests with a 500 first
    lock: threading.Lock = field(default_factory=threading.Lock)
    refunds_open: threading.Event = field(default_factory=threading.Event)
    refunds_waiting: int = 0  # refund requests held by hold_refunds() so far

    def __post_init__(self) -> None:
        self.refunds_open.set()

    def hold_refunds(self) -> None:
        """A slow Stripe: refund requests wait, unanswered, until ``release_refunds()``; then
        each is carried out even if its client has gone meanwhile."""
        self.refunds_open.clear()

    def release_refunds(self) -> None:
        self.refunds_open.set()

    def wait_if_held(self, method: str, path: str) -> None:
        if (method, path) != ("POST", "/v1/refunds") or self.refunds_open.is_set():
            return
        with self.lock:
            self.refunds_waiting += 1
        self.refunds_open.wait(timeout=60)

    def refunds_of(self, intent_id: str) -> list[dict[str, Any]]:
        return [r for r in self.refunds if r["payment_intent"] == intent_id]

    def handle(self, method: str, path: str, form: dict[str, str], key: str | None) -> Any:
        with self.lock:
            self.requests.append((method, path, key))
            if self.fail_next > 0:
                self.fail_next -= 1
                return 500, {"error": {"type": "api_error", "message": "try again"}}
            remembered = f"{method} {path} {key}"
            if key is not None and remembered in self.idempotent:
                return 200, self.idempotent[remembered]
            status, body = self._route(method, path, form)
            if key is not None and status == 200:
                self.idempotent[remembered] = body
            return status, body

    def _route(self, method: str, path: str, form: dict[str, str]) -> tuple[int, Any]:
        if method == "POST" and path == "/v1/payment_intents":
            intent_id = f"pi_{secrets.token_hex(8)}"
            intent = {
                "id": intent_id,
                "object": "payment_intent",
                "amount": int(form["amount"]),
                "currency": form["currency"],
                "status": "requires_payment_method",
                "client_secret": f"{intent_id}_secret_{secrets.token_hex(6)}",
                "metadata": {
                    k[len("metadata[") : -1]: v
                    for k, v in form.items()
                    if k.startswith("metadata[")
                },
            }
            self.intents[intent_id] = intent
            return 200, intent
        if method == "GET" and path.startswith("/v1/payment_intents/"):
            found = self.intents.get(path.rsplit("/", 1)[1])
            if found is None:
                return 404, {"error": {"type": "invalid_request_error", "code": "resource_missing"}}
            return 200, found
        if method == "POST" and path == "/v1/refunds":
            intent = self.intents.get(form.get("payment_intent", ""))
            if intent is None:
                return 404, {"error": {"type": "invalid_request_error", "code": "resource_missing"}}
            refund = {
                "id": f"re_{secrets.token_hex(8)}",
                "object": "refund",
                "amount": int(form.get("amount", intent["amount"])),
                "currency": intent["currency"],
                "payment_intent": intent["id"],
                "status": "succeeded",
            }
            self.refunds.append(refund)
            return 200, refund
        return 404, {"error": {"type": "invalid_request_error", "message": f"no {path}"}}


def _handler(fake: FakeStripe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length).decode() if length else ""
            if self.headers.get("authorization") != f"Bearer {SECRET_KEY}":
                status, body = 401, {"error": {"type": "invalid_request_error", "message": "key"}}
            else:
                fake.wait_if_held(method, self.path)
                status, body = fake.handle(
                    method, self.path, dict(parse_qsl(raw)), self.headers.get("idempotency-key")
                )
            out = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client is gone (a worker killed while it waited)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def stripe_server() -> Iterator[FakeStripe]:
    fake = FakeStripe()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    fake.release_refunds()
    server.shutdown()
    server.server_close()


def stripe_settings_for(settings: Settings, fake: FakeStripe) -> Settings:
    return settings.model_copy(
        update={
            "payment_provider": "stripe",
            "stripe_secret_key": SecretStr(SECRET_KEY),
            "stripe_webhook_secret": SecretStr(WEBHOOK_SECRET),
            "stripe_api_base": fake.base_url,
            "stripe_webhook_tolerance_seconds": 300,
        }
    )


def online_settings(settings: Settings) -> Settings:
    """Payment is taken online, through Stripe (no Stripe answers: for tests of the time a
    booking holds its slot unpaid)."""
    return settings.model_copy(
        update={
            "payment_provider": "stripe",
            "stripe_secret_key": SecretStr("sk_test_local"),
            "stripe_webhook_secret": SecretStr("whsec_local"),
        }
    )


@pytest.fixture
def stripe_settings(settings: Settings, stripe_server: FakeStripe) -> Settings:
    return stripe_settings_for(settings, stripe_server)


async def clear_jobs() -> None:
    """Jobs are committed outside the test's transaction."""
    await job_app.connector.execute_query_async(
        "DELETE FROM procrastinate_jobs WHERE queue_name IN ('payments', 'notifications')"
    )


@pytest.fixture
async def pay_client(
    stripe_settings: Settings, database: Database
) -> AsyncIterator[httpx.AsyncClient]:
    """An app paid through the local Stripe, in the test's transaction; its lifespan opens the
    job queue."""
    async with serving(create_app(stripe_settings, database=database)) as client:
        try:
            yield client
        finally:
            await clear_jobs()


def day_ahead(days: int) -> date:
    return datetime.now(UTC).date() + timedelta(days=days)


@dataclass
class Held:
    """A booking waiting for payment."""

    appointment_id: uuid.UUID
    patient: User
    headers: Headers
    doctor: User
    doctor_headers: Headers


HoldFor = Callable[..., Awaitable[Held]]
BookWith = Callable[..., Awaitable[Held]]


@pytest.fixture
def book_with(
    make_doctor: MakeDoctor,
    make_user: MakeUser,
    token_for: TokenFor,
) -> Callable[..., Awaitable[Held]]:
    """Through the API of ``client``'s app: a doctor with a fee (in the app's currency) sets a
    schedule, a patient takes the first open slot ``days`` ahead and books it."""

    async def book(client: httpx.AsyncClient, fee: int = 5000, days: int = 5) -> Held:
        body = schedule_body(types=[VIDEO_30])
        doctor, doctor_headers = await doctor_on_schedule(
            client, make_doctor, token_for, body, fee=fee
        )
        patient = await make_user(Role.patient)
        headers = await token_for(patient)
        day = day_ahead(days)
        start = datetime(day.year, day.month, day.day, tzinfo=BERLIN)
        slots = await client.get(
            f"/api/v1/doctors/{doctor.id}/slots",
            params={
                "type": "video",
                "from": start.isoformat(),
                "to": (start + timedelta(days=1)).isoformat(),
            },
            headers=headers,
        )
        assert slots.status_code == 200, slots.text
        first = slots.json()["slots"][0]["starts_at"]
        booked = await client.post(
            "/api/v1/appointments",
            json={"doctor_id": str(doctor.id), "starts_at": first, "type": "video"},
            headers=headers,
        )
        assert booked.status_code == 201, booked.text
        return Held(uuid.UUID(booked.json()["id"]), patient, headers, doctor, doctor_headers)

    return book


@pytest.fixture
def held_booking(
    pay_client: httpx.AsyncClient, book_with: Callable[..., Awaitable[Held]]
) -> HoldFor:
    """A booking through the Stripe-paid app: pending payment."""

    async def hold(fee: int = 5000, days: int = 5) -> Held:
        held = await book_with(pay_client, fee=fee, days=days)
        return held

    return hold


# -- webhooks --------------------------------------------------------------------------------------


def event_body(event_type: str, intent: dict[str, Any], event_id: str | None = None) -> str:
    return json.dumps(
        {
            "id": event_id or f"evt_{secrets.token_hex(8)}",
            "object": "event",
            "type": event_type,
            "created": int(time.time()),
            "data": {"object": intent},
        }
    )


def signed(payload: str, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> Headers:
    header = stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp)
    return {"Stripe-Signature": header, "Content-Type": "application/json"}


async def send_event(
    client: httpx.AsyncClient, event_type: str, intent: dict[str, Any], event_id: str | None = None
) -> httpx.Response:
    payload = event_body(event_type, intent, event_id)
    return await client.post(
        "/api/v1/payments/stripe/webhook", content=payload, headers=signed(payload)
    )


def stripe_intent(started: dict[str, Any]) -> dict[str, Any]:
    """The PaymentIntent of a started payment as Stripe's events carry it: the amount in the
    currency's minor units, the currency in lower case, our metadata."""
    return {
        "id": started["provider_payment_id"],
        "object": "payment_intent",
        "amount": started["amount"],
        "currency": started["currency"].lower(),
        "metadata": {
            "payment_id": started["payment_id"],
            "appointment_id": started["appointment_id"],
        },
    }


def failed_intent(intent: dict[str, Any]) -> dict[str, Any]:
    return {
        **intent,
        "status": "requires_payment_method",
        "last_payment_error": {"message": "Your card was declined."},
    }


def succeeded_intent(intent: dict[str, Any]) -> dict[str, Any]:
    return {**intent, "status": "succeeded", "amount_received": intent.get("amount")}


async def start_payment(client: httpx.AsyncClient, held: Held) -> dict[str, Any]:
    answer = await client.post(
        f"/api/v1/appointments/{held.appointment_id}/payment", headers=held.headers
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def paid(client: httpx.AsyncClient, held: Held) -> dict[str, Any]:
    """Start paying and let the local Stripe tell CareBridge it succeeded."""
    intent = await start_payment(client, held)
    answer = await send_event(
        client,
        "payment_intent.succeeded",
        succeeded_intent(stripe_intent(intent)),
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["outcome"] == "paid"
    return intent


async def state(database: Database, appointment_id: uuid.UUID) -> tuple[str, str]:
    """(appointment status, payment status)."""
    async with database.sessionmaker() as db:
        row = (
            await db.execute(
                select(Appointment.status, Payment.status)
                .join(Payment, Payment.appointment_id == Appointment.id)
                .where(Appointment.id == appointment_id)
            )
        ).one()
    return row[0], row[1]
