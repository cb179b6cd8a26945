"""Payment providers behind one small interface: ``offline`` (paid at the clinic, nothing to call)
and ``stripe`` (PaymentIntents and Refunds through the official library).

A provider is opened for one unit of work (``async with provider_for(settings) as provider``) and
closed after it: the Stripe client's HTTP connections belong to the event loop that opened them.
Every call that creates something at the provider carries an idempotency key derived from our own
row, so a retried call (a timeout, a worker that died) never charges or refunds twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from carebridge.config import Settings
from carebridge.platform.errors import Conflict, NotFound


@dataclass(frozen=True)
class Intent:
    """A payment the patient completes in the browser with ``client_secret``."""

    id: str
    client_secret: str | None
    status: str
    amount: int
    currency: str


@dataclass(frozen=True)
class Refund:
    id: str
    status: str


@dataclass(frozen=True)
class ProviderEventIn:
    """A verified webhook event: its id, type and the object it is about."""

    id: str
    type: str
    object: Mapping[str, Any]


class PaymentProvider(Protocol):
    name: str

    async def create_intent(
        self, *, key: str, amount: int, currency: str, metadata: Mapping[str, str]
    ) -> Intent: ...

    async def get_intent(self, intent_id: str) -> Intent: ...

    async def refund(self, *, key: str, intent_id: str, amount: int) -> Refund: ...

    def parse_event(self, payload: bytes, signature: str | None) -> ProviderEventIn: ...


def _offline() -> Conflict:
    return Conflict(
        "Payments are taken at the clinic: there is nothing to pay online.",
        code="payment_offline",
    )


class OfflineProvider:
    """Paid at the clinic: bookings confirm at once, nothing is charged or refunded online."""

    name = "offline"

    async def create_intent(
        self, *, key: str, amount: int, currency: str, metadata: Mapping[str, str]
    ) -> Intent:
        raise _offline()

    async def get_intent(self, intent_id: str) -> Intent:
        raise _offline()

    async def refund(self, *, key: str, intent_id: str, amount: int) -> Refund:
        raise _offline()

    def parse_event(self, payload: bytes, signature: str | None) -> ProviderEventIn:
        raise NotFound("No payment webhook is configured.")


@asynccontextmanager
async def provider_for(
    settings: Settings, name: str | None = None
) -> AsyncIterator[PaymentProvider]:
    """The provider called ``name`` (default: the configured one), open for the block. A payment
    is refunded by the provider that took it, even if the clinic has switched since."""
    if (name or settings.payment_provider) != "stripe":
        yield OfflineProvider()
        return
    # Imported here: the Stripe library (and requests under it) is a tenth of a second of every
    # start, and a clinic paid at the desk never needs it (docs/performance.md, "Start-up").
    from carebridge.payments.stripe_provider import StripeProvider

    provider = StripeProvider(settings)
    try:
        yield provider
    finally:
        await provider.aclose()
