"""Email verification, password reset by email, and email change."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts import links
from carebridge.accounts.actors import Actor
from carebridge.accounts.credentials import CredentialCheck
from carebridge.accounts.hooks import RESET_PASSWORD, VERIFY_EMAIL, Message, record, send
from carebridge.accounts.models import TokenPurpose, User, UserStatus
from carebridge.accounts.schemas import (
    EmailChange,
    PasswordReset,
)
from carebridge.accounts.service import (
    audit_user,
    check_password,
    end_sessions,
    hash_new_password,
    normalize_email,
)
from carebridge.config import Settings
from carebridge.platform.context import RequestContext
from carebridge.platform.errors import Conflict
from carebridge.platform.ratelimit import RateLimiter

# -- email verification, password reset, email change -------------------------------------------


async def notify_verification(
    db: AsyncSession, user_id: uuid.UUID, new_email: str | None = None
) -> None:
    """Queue the confirmation email (its link is made when it is sent)."""
    message = Message(
        user_id,
        VERIFY_EMAIL,
        "Confirm your email address",
        "We emailed you a link to confirm your address.",
        data={"new_email": new_email} if new_email else None,
    )
    await send(db, message)


RESEND_PER_IP = "10/hour"
RESEND_PER_ACCOUNT = "3/hour"
FORGOT_PER_IP = "10/hour"
FORGOT_PER_ACCOUNT = "3/hour"


async def resend_verification(
    db: AsyncSession, limiter: RateLimiter, email: str, context: RequestContext
) -> None:
    """Send a new verification link if the account exists and is unverified. The answer is the
    same either way, so it does not tell whether an email has an account."""
    email = normalize_email(email)
    await limiter.hit(RESEND_PER_IP, "verify-resend-ip", context.ip or "-")
    await limiter.hit(RESEND_PER_ACCOUNT, "verify-resend", email)
    user = await db.scalar(select(User).where(User.email == email))
    if user is None or user.email_verified_at is not None or user.status == UserStatus.disabled:
        return
    await notify_verification(db, user.id)
    await audit_user(db, "auth.verification_resent", user, context)


async def verify_email(db: AsyncSession, token: str, context: RequestContext) -> User:
    spent = await links.spend(db, token, TokenPurpose.verify_email, TokenPurpose.change_email)
    user = await db.get(User, spent.user_id, with_for_update=True)
    if user is None or user.status == UserStatus.disabled:
        raise links.InvalidLink("This link is not valid any more.")
    action = "auth.email_verified"
    if spent.purpose == TokenPurpose.change_email and spent.new_email:
        previous = user.email
        user.email = spent.new_email
        try:
            async with db.begin_nested():
                await db.flush()
        except IntegrityError as exc:
            raise Conflict("Another account uses this email now.", code="email_taken") from exc
        action = "auth.email_changed"
        await end_sessions(db, user.id, "email_changed")
        details = {"previous_domain": previous.rsplit("@", 1)[-1]}
    else:
        details = {}
    user.email_verified_at = datetime.now(UTC)
    await record(
        db,
        action=action,
        actor_id=user.id,
        actor_role=user.role,
        resource_type="user",
        resource_id=user.id,
        context=context,
        **details,
    )
    return user


async def forgot_password(
    db: AsyncSession, limiter: RateLimiter, email: str, context: RequestContext
) -> None:
    """Email a reset link if the account exists; the answer never says whether it does."""
    email = normalize_email(email)
    await limiter.hit(FORGOT_PER_IP, "forgot-ip", context.ip or "-")
    await limiter.hit(FORGOT_PER_ACCOUNT, "forgot", email)
    user = await db.scalar(select(User).where(User.email == email))
    if user is None or user.status == UserStatus.disabled:
        return
    message = Message(
        user.id,
        RESET_PASSWORD,
        "Reset your CareBridge password",
        "We emailed you a link to choose a new password.",
    )
    await send(db, message)
    await audit_user(db, "auth.password_reset_requested", user, context)


async def reset_password(
    db: AsyncSession, settings: Settings, body: PasswordReset, context: RequestContext
) -> None:
    """Set a new password from a reset link. Every session ends; the person then signs in
    normally (with their second factor when they have one: a reset never bypasses it)."""
    spent = await links.spend(db, body.token, TokenPurpose.reset_password)
    user = await db.get(User, spent.user_id, with_for_update=True)
    if user is None or user.status == UserStatus.disabled:
        raise links.InvalidLink("This link is not valid any more.")
    check_password(body.new_password, user.email, user.name)
    user.password_hash = await hash_new_password(settings, body.new_password)
    user.password_changed_at = datetime.now(UTC)
    user.failed_logins = 0
    user.locked_until = None
    if user.email_verified_at is None:
        user.email_verified_at = datetime.now(UTC)  # the link proved the mailbox
    ended = await end_sessions(db, user.id, "password_reset")
    await audit_user(db, "auth.password_reset", user, context, sessions_ended=ended)


async def request_email_change(
    db: AsyncSession, check: CredentialCheck, actor: Actor, body: EmailChange
) -> None:
    """Send a verification link to the new address; the change happens when it is opened.
    Requires the current password (checked as sign-in checks it)."""
    user = await check.current_password(
        db, actor.id, body.current_password, action="auth.email_change_requested"
    )
    new_email = normalize_email(str(body.new_email))
    if new_email == user.email:
        raise Conflict("This is already your email address.", code="same_email")
    if await db.scalar(select(User.id).where(User.email == new_email)) is not None:
        raise Conflict("Another account uses this email.", code="email_taken")
    await notify_verification(db, user.id, new_email)
    await audit_user(db, "auth.email_change_requested", user, check.context)
