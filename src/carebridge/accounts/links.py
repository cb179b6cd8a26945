"""One-time links sent by email (verify an address, reset a password): single use, hashed,
expiring. The raw token exists only in the email."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.models import OneTimeToken, TokenPurpose, User
from carebridge.accounts.tokens import hash_refresh_token as hash_token
from carebridge.config import Settings
from carebridge.platform.errors import Invalid

# The templates of the emails below (``verify_email``, ``reset_password``), which notifications
# registers as those kinds' emails.
EMAIL_TEMPLATES = Path(__file__).parent / "templates" / "email"


class Sent(Protocol):
    """The notification an email is made for: what it was queued with."""

    @property
    def data(self) -> dict[str, Any]: ...


class InvalidLink(Invalid):
    code = "invalid_link"
    title = "The link is not valid"


async def issue(
    db: AsyncSession,
    user_id: uuid.UUID,
    purpose: TokenPurpose,
    lifetime: timedelta,
    new_email: str | None = None,
) -> str:
    token = secrets.token_urlsafe(32)
    db.add(
        OneTimeToken(
            user_id=user_id,
            purpose=purpose,
            token_hash=hash_token(token),
            expires_at=datetime.now(UTC) + lifetime,
            new_email=new_email,
        )
    )
    await db.flush()
    return token


async def spend(db: AsyncSession, token: str, *purposes: TokenPurpose) -> OneTimeToken:
    """Use a token once: concurrent uses cannot both succeed."""
    spent = await db.scalar(
        update(OneTimeToken)
        .where(
            OneTimeToken.token_hash == hash_token(token),
            OneTimeToken.purpose.in_(purposes),
            OneTimeToken.used_at.is_(None),
            OneTimeToken.expires_at > datetime.now(UTC),
        )
        .values(used_at=datetime.now(UTC))
        .returning(OneTimeToken)
    )
    if not isinstance(spent, OneTimeToken):
        raise InvalidLink("This link is not valid any more: it was used, expired or mistyped.")
    return spent


async def verification_email(
    db: AsyncSession, notification: Sent, user: User, settings: Settings
) -> dict[str, Any]:
    """Made when the email is sent: the link's raw token exists only in the message."""
    new_email = notification.data.get("new_email")
    purpose = TokenPurpose.change_email if new_email else TokenPurpose.verify_email
    hours = settings.email_token_hours
    token = await issue(db, user.id, purpose, timedelta(hours=hours), new_email)
    address = new_email or user.email
    return {
        "to": address,
        "email": address,
        "hours": hours,
        "subject": "Confirm your email address",
        "link": f"{settings.public_base_url}/verify-email?token={token}",
    }


async def reset_email(
    db: AsyncSession, notification: Sent, user: User, settings: Settings
) -> dict[str, Any]:
    minutes = settings.reset_token_minutes
    token = await issue(db, user.id, TokenPurpose.reset_password, timedelta(minutes=minutes))
    return {
        "minutes": minutes,
        "subject": "Reset your CareBridge password",
        "link": f"{settings.public_base_url}/reset-password?token={token}",
    }
