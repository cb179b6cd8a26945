"""TOTP second factor (RFC 6238: 30-second steps, 6 digits, ±1 step) and recovery codes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from datetime import UTC, datetime

import pyotp
from sqlalchemy import delete, or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.models import RecoveryCode, User
from carebridge.accounts.sealed import TOTP_SECRET
from carebridge.config import Settings
from carebridge.platform.crypto import Keyring

ISSUER = "CareBridge"
RECOVERY_CODES = 10
_STEP = 30


def new_secret() -> str:
    return pyotp.random_base32()


def seal_secret(keyring: Keyring, user_id: uuid.UUID, secret: str) -> bytes:
    return keyring.seal(TOTP_SECRET, {"id": user_id}, secret)


def open_secret(keyring: Keyring, user: User) -> str | None:
    return keyring.open_text(TOTP_SECRET, user)


def provisioning_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    import segno  # on first use: not needed at start-up (docs/performance.md)

    return str(segno.make(uri, error="m").svg_inline(scale=4, border=2))


def matching_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The time step (now, or one either side) whose code is ``code``; None if none matches."""
    code = code.strip().replace(" ", "")
    if not (len(code) == 6 and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    current = int((now if now is not None else time.time()) // _STEP)
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.at(step * _STEP), code):
            return step
    return None


async def accept_code(db: AsyncSession, keyring: Keyring, user: User, code: str) -> bool:
    """True once per code: the step is recorded atomically, so a replayed code (even a
    concurrent one) is refused."""
    secret = open_secret(keyring, user)
    if secret is None:
        return False
    step = matching_step(secret, code)
    if step is None:
        return False
    claimed = await db.scalar(
        update(User)
        .where(
            User.id == user.id,
            or_(User.totp_last_step.is_(None), User.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .returning(User.id)
        .execution_options(synchronize_session=False)
    )
    return claimed is not None


def _code_hash(settings: Settings, code: str) -> bytes:
    normalized = code.strip().lower().replace("-", "").replace(" ", "")
    key = settings.secret("secret_key").encode()
    return hmac.new(key, b"recovery:" + normalized.encode(), hashlib.sha256).digest()


async def new_recovery_codes(db: AsyncSession, settings: Settings, user_id: uuid.UUID) -> list[str]:
    """Replace the user's recovery codes; the plain codes are returned once and never stored."""
    await db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = secrets.token_hex(5)  # 40 bits each, single use, throttled
        codes.append(f"{raw[:5]}-{raw[5:]}")
    db.add_all(RecoveryCode(user_id=user_id, code_hash=_code_hash(settings, c)) for c in codes)
    await db.flush()
    return codes


async def use_recovery_code(
    db: AsyncSession, settings: Settings, user_id: uuid.UUID, code: str
) -> bool:
    used = await db.scalar(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user_id,
            RecoveryCode.code_hash == _code_hash(settings, code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=datetime.now(UTC))
        .returning(RecoveryCode.id)
    )
    return used is not None
