"""Web push (RFC 8030) with VAPID (RFC 8292) and encrypted payloads (RFC 8291), by pywebpush.

The VAPID key comes from CAREBRIDGE_VAPID_PRIVATE_KEY, or in development is generated once into
``<data dir>/vapid.pem``. Without a key (production not configured) push is unavailable.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization

if TYPE_CHECKING:
    from py_vapid import Vapid02

from carebridge.config import Settings


class PushGone(Exception):
    """The push service says the subscription no longer exists (404/410)."""


class PushUnavailable(Exception):
    """Worth retrying later (429, 5xx, network)."""


class PushRejected(Exception):
    """Refused for good (another 4xx)."""


@dataclass(frozen=True)
class VapidKey:
    vapid: Vapid02
    public_key: str  # base64url uncompressed point: the browser's applicationServerKey


@cache
def _load(pem: bytes) -> VapidKey:
    from py_vapid import Vapid02  # push libraries load on first use, not at start-up

    vapid = Vapid02.from_pem(pem)
    raw = vapid.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return VapidKey(vapid, base64.urlsafe_b64encode(raw).rstrip(b"=").decode())


def vapid_key(settings: Settings) -> VapidKey | None:
    if settings.vapid_private_key is not None:
        return _load(settings.vapid_private_key.get_secret_value().encode())
    if settings.is_production:
        return None
    path: Path = settings.data_dir / "vapid.pem"
    if not path.exists():
        from py_vapid import Vapid02

        vapid = Vapid02()
        vapid.generate_keys()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(vapid.private_pem())
    return _load(path.read_bytes())


async def send_push(
    key: VapidKey, subject: str, endpoint: str, p256dh: str, auth: str, payload: dict[str, Any]
) -> int:
    """Send one encrypted message; returns the push service's HTTP status."""
    from pywebpush import WebPushException, webpush_async

    try:
        response = await webpush_async(
            subscription_info={"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}},
            data=json.dumps(payload),
            vapid_private_key=key.vapid,
            vapid_claims={"sub": subject},
            content_encoding="aes128gcm",
            ttl=24 * 3600,
            timeout=15,
        )
    except WebPushException as exc:
        found = getattr(exc.response, "status", None) or getattr(exc.response, "status_code", None)
        status = int(found) if isinstance(found, int) else 0
        if status in (404, 410):
            raise PushGone(f"HTTP {status}") from exc
        if status == 429 or status >= 500 or not status:
            raise PushUnavailable(f"HTTP {status or 'error'}: {exc}"[:300]) from exc
        raise PushRejected(f"HTTP {status}") from exc
    except OSError as exc:
        raise PushUnavailable(f"{type(exc).__name__}: {exc}"[:300]) from exc
    answered = getattr(response, "status", None)
    return int(answered) if isinstance(answered, int) else 201
