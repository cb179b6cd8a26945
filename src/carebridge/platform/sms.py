"""Sending SMS: the Twilio Messages API shape over HTTP, or the log in development.

``send`` returns the provider's message id; failures say whether retrying can help (HTTP 429
and 5xx, network errors) or not (4xx: an invalid number, a refused sender).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Protocol

import structlog

from carebridge.config import Settings

log = structlog.get_logger(__name__)

GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)


class SmsRejected(Exception):
    """The provider refused the message for good."""


class SmsUnavailable(Exception):
    """The provider could not take the message now."""


class SmsTransport(Protocol):
    async def send(self, to: str, body: str, status_callback: str | None) -> str: ...


def fit(text: str, max_segments: int) -> str:
    """Shorten ``text`` to ``max_segments`` SMS segments (160 GSM-7 characters, or 70 when it
    needs Unicode; 153/67 per segment once split), ending with an ellipsis when cut."""
    gsm = all(ch in GSM7 for ch in text)
    single, multi = (160, 153) if gsm else (70, 67)
    limit = single if max_segments == 1 else multi * max_segments
    if len(text) <= single:
        return text
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def valid_number(number: str) -> bool:
    import phonenumbers  # on first use: not needed at start-up (docs/performance.md)

    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(number, None))
    except phonenumbers.NumberParseException:
        return False


class LogSms:
    async def send(self, to: str, body: str, status_callback: str | None) -> str:
        log.info("sms_logged", to=to[:-4] + "****", characters=len(body))
        return "logged"


class TwilioSms:
    def __init__(self, settings: Settings) -> None:
        if not (
            settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from
        ):
            raise RuntimeError("set CAREBRIDGE_TWILIO_ACCOUNT_SID, _AUTH_TOKEN and _FROM for SMS")
        self.sid = settings.twilio_account_sid
        self.token = settings.twilio_auth_token.get_secret_value()
        self.sender = settings.twilio_from
        self.url = (
            f"{settings.twilio_base_url.rstrip('/')}/2010-04-01/Accounts/{self.sid}/Messages.json"
        )

    async def send(self, to: str, body: str, status_callback: str | None) -> str:
        form = {"To": to, "From": self.sender, "Body": body}
        if status_callback:
            form["StatusCallback"] = status_callback
        import httpx  # on first use: not needed at start-up (docs/performance.md)

        try:
            async with httpx.AsyncClient(timeout=15) as client:
                response = await client.post(self.url, data=form, auth=(self.sid, self.token))
        except httpx.HTTPError as exc:
            raise SmsUnavailable(f"{type(exc).__name__}: {exc}"[:300]) from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise SmsUnavailable(f"HTTP {response.status_code}")
        if response.status_code >= 400:
            raise SmsRejected(f"HTTP {response.status_code}: {response.text[:200]}")
        return str(response.json()["sid"])


def sms_transport_for(settings: Settings) -> SmsTransport:
    return TwilioSms(settings) if settings.sms_transport == "twilio" else LogSms()


def twilio_signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    """Twilio's request signature: HMAC-SHA1 over the URL followed by each POST parameter's
    name and value, sorted by name; base64."""
    payload = url + "".join(f"{key}{params[key]}" for key in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()
