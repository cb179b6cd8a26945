"""One-time links sent by email (verify an address, reset a password): single use, hashed,
expiring. The raw token exists only in the email."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.models import OneTimeToken, TokenPurpose, User
from carebridge.accounts.tokens import hash_refresh_token as hash_token
from carebridge.config import Settings
from carebridge.platform.errors import Invalid
from carebridge.platform.mail import MailTransport, compose

_emails = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates" / "email"),
    autoescape=select_autoescape(["html"]),
)


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


async def send_verification(
    db: AsyncSession,
    transport: MailTransport,
    settings: Settings,
    user: User,
    new_email: str | None = None,
) -> str:
    purpose = TokenPurpose.change_email if new_email else TokenPurpose.verify_email
    hours = settings.email_token_hours
    token = await issue(db, user.id, purpose, timedelta(hours=hours), new_email)
    values = {
        "name": user.name,
        "email": new_email or user.email,
        "hours": hours,
        "link": f"{settings.public_base_url}/verify-email?token={token}",
        "subject": "Confirm your email address",
    }
    return await transport.send(
        compose(
            settings,
            to=new_email or user.email,
            subject=values["subject"],  # type: ignore[arg-type]
            text=_emails.get_template("verify_email.txt").render(values),
            html=_emails.get_template("verify_email.html").render(values),
        )
    )


async def send_password_reset(
    db: AsyncSession, transport: MailTransport, settings: Settings, user: User
) -> str:
    minutes = settings.reset_token_minutes
    token = await issue(db, user.id, TokenPurpose.reset_password, timedelta(minutes=minutes))
    values = {
        "name": user.name,
        "minutes": minutes,
        "subject": "Reset your CareBridge password",
        "link": f"{settings.public_base_url}/reset-password?token={token}",
    }
    return await transport.send(
        compose(
            settings,
            to=user.email,
            subject=str(values["subject"]),
            text=_emails.get_template("reset_password.txt").render(values),
            html=_emails.get_template("reset_password.html").render(values),
        )
    )
