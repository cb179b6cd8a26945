"""The Stripe provider: PaymentIntents, refunds and signed webhooks, through the official library.
Imported only when a clinic takes payments with Stripe (``providers.provider_for``)."""

from __future__ import annotations

import json
from collections.abc import Mapping

import stripe

from carebridge.config import Settings
from carebridge.payments.providers import Intent, ProviderEventIn, Refund
from carebridge.platform.errors import CareBridgeError, NotFound, ServiceUnavailable


def _intent(found: stripe.PaymentIntent) -> Intent:
    return Intent(
        id=found.id,
        client_secret=found.client_secret,
        status=found.status,
        amount=found.amount,
        currency=found.currency.upper(),
    )


def _unavailable(exc: stripe.StripeError) -> ServiceUnavailable:
    # The provider's message may name our account: it goes to the log, not to the caller.
    return ServiceUnavailable(
        "The payment provider could not be reached; try again in a moment.",
        code="payment_provider_unavailable",
        headers={"Retry-After": "5"},
    )


class StripeProvider:
    """Stripe's PaymentIntents API through ``stripe.StripeClient`` and its async httpx client.
    ``stripe_api_base`` points the client at another host (a local test server)."""

    name = "stripe"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._http: stripe.HTTPXClient | None = None
        self._stripe: stripe.StripeClient | None = None

    @property
    def _client(self) -> stripe.StripeClient:
        """Made on first use: checking a webhook's signature needs no HTTP client."""
        if self._stripe is None:
            key = self._settings.stripe_secret_key
            if key is None:
                raise ServiceUnavailable(
                    "Online payment is not configured.", code="payment_not_configured"
                )
            self._http = stripe.HTTPXClient(timeout=20)
            base = self._settings.stripe_api_base
            self._stripe = stripe.StripeClient(
                key.get_secret_value(),
                base_addresses={"api": base} if base else None,
                http_client=self._http,
                max_network_retries=2,
            )
        return self._stripe

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close_async()  # type: ignore[no-untyped-call]

    async def create_intent(
        self, *, key: str, amount: int, currency: str, metadata: Mapping[str, str]
    ) -> Intent:
        try:
            created = await self._client.v1.payment_intents.create_async(
                {
                    "amount": amount,
                    "currency": currency.lower(),
                    "metadata": dict(metadata),
                    "automatic_payment_methods": {"enabled": True},
                },
                {"idempotency_key": key},
            )
        except stripe.StripeError as exc:
            raise _unavailable(exc) from exc
        return _intent(created)

    async def get_intent(self, intent_id: str) -> Intent:
        try:
            return _intent(await self._client.v1.payment_intents.retrieve_async(intent_id))
        except stripe.StripeError as exc:
            raise _unavailable(exc) from exc

    async def refund(self, *, key: str, intent_id: str, amount: int) -> Refund:
        """Refund the whole payment. A payment already refunded at Stripe (by hand, in the
        dashboard) counts as refunded. Other errors propagate: the job retries."""
        try:
            made = await self._client.v1.refunds.create_async(
                {"payment_intent": intent_id, "amount": amount},
                {"idempotency_key": key},
            )
        except stripe.InvalidRequestError as exc:
            if exc.code == "charge_already_refunded":
                return Refund(id="", status="succeeded")
            raise
        return Refund(id=made.id, status=made.status or "pending")

    def parse_event(self, payload: bytes, signature: str | None) -> ProviderEventIn:
        """Verify the ``Stripe-Signature`` of the raw body (and that it was signed recently)
        with the library, then read the event. Raises 400 ``bad_signature``/``stale_signature``
        or ``bad_payload``; nothing is read before the signature holds."""
        secret = self._settings.stripe_webhook_secret
        if secret is None:
            raise NotFound("No payment webhook is configured.")
        try:
            # Stripe signs UTF-8 JSON; the library would decode it and fail on anything else.
            text = payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CareBridgeError("The body is not UTF-8 text.", code="bad_payload") from exc
        try:
            stripe.WebhookSignature.verify_header(
                text,
                signature,
                secret.get_secret_value(),
                self._settings.stripe_webhook_tolerance_seconds,
            )
        except stripe.SignatureVerificationError as exc:
            if "tolerance" in str(exc):
                raise CareBridgeError(
                    "The event was signed too long ago.", code="stale_signature"
                ) from exc
            raise CareBridgeError(
                "The Stripe-Signature header is not valid for this body.", code="bad_signature"
            ) from exc
        try:
            event = json.loads(text)
            found = event["data"]["object"]
            if not isinstance(found, dict):
                raise TypeError("data.object is not an object")
            return ProviderEventIn(id=str(event["id"]), type=str(event["type"]), object=found)
        except (ValueError, KeyError, TypeError) as exc:
            raise CareBridgeError("The event is not a Stripe event.", code="bad_payload") from exc
