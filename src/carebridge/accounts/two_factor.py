"""The second sign-in factor: TOTP enrolment, verification, recovery codes."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts import mfa
from carebridge.accounts.actors import Actor
from carebridge.accounts.models import RecoveryCode, User, UserStatus
from carebridge.accounts.schemas import (
    MfaVerify,
    RecoveryCodes,
    TokenPair,
    TotpDisable,
    TotpSetup,
)
from carebridge.accounts.service import (
    InvalidCredentials,
    audit_user,
    password_matches,
    record_failed_sign_in,
    start_session,
)
from carebridge.accounts.tokens import KeyStore, verify_mfa_token
from carebridge.platform.context import RequestContext
from carebridge.platform.errors import Conflict, Invalid, NotFound, RateLimited, Unauthenticated
from carebridge.platform.ratelimit import RateLimiter

# -- second factor (TOTP) -----------------------------------------------------------------------

MFA_PER_ACCOUNT = "10/minute"


class InvalidMfaCode(Unauthenticated):
    code = "invalid_mfa_code"
    title = "Wrong or reused code"


async def verify_mfa(
    db: AsyncSession,
    limiter: RateLimiter,
    keys: KeyStore,
    body: MfaVerify,
    context: RequestContext,
) -> TokenPair:
    """Second sign-in step: the MFA token from /login plus a TOTP code or a recovery code."""
    user = await second_factor(db, limiter, keys, body, context)
    return await start_session(db, keys, user, context)


async def second_factor(
    db: AsyncSession,
    limiter: RateLimiter,
    keys: KeyStore,
    body: MfaVerify,
    context: RequestContext,
) -> User:
    """Check the TOTP or recovery code for the MFA token's user (throttled, lockout, audited)."""
    user_id = await verify_mfa_token(db, keys, body.mfa_token)
    await limiter.hit(MFA_PER_ACCOUNT, "mfa", str(user_id))
    user = await db.get(User, user_id, with_for_update=True)
    if user is None or user.status == UserStatus.disabled or not user.mfa_enabled:
        raise InvalidCredentials("Sign in again.")
    now = datetime.now(UTC)
    if user.locked_until is not None and user.locked_until > now:
        raise RateLimited(
            "Too many failed sign-ins: this account is locked for a while.",
            code="account_locked",
            retry_after=max(1, int((user.locked_until - now).total_seconds())),
        )
    if body.code:
        method, ok = "totp", await mfa.accept_code(db, keys.keyring, user, body.code)
    elif body.recovery_code:
        method = "recovery_code"
        ok = await mfa.use_recovery_code(db, keys.settings, user.id, body.recovery_code)
    else:
        raise Invalid(
            "Send a code from the authenticator app or a recovery code.", code="code_required"
        )
    if not ok:
        await record_failed_sign_in(db, keys, user, context, now, action="auth.mfa_verify")
        raise InvalidMfaCode("Wrong or already used code.", keep_changes=True)
    user.failed_logins = 0
    user.locked_until = None
    await audit_user(db, "auth.mfa_verify", user, context, method=method)
    return user


async def _locked_me(db: AsyncSession, actor: Actor) -> User:
    user = await db.get(User, actor.id, with_for_update=True)
    if user is None:
        raise NotFound("No such user.")
    return user


async def totp_setup(db: AsyncSession, keys: KeyStore, actor: Actor) -> TotpSetup:
    """Start enrolment: a new secret (replacing an unfinished one), not in force until enabled."""
    user = await _locked_me(db, actor)
    if user.mfa_enabled:
        raise Conflict(
            "Two-step sign-in is already on; turn it off first.", code="mfa_already_enabled"
        )
    secret = mfa.new_secret()
    user.totp_secret = mfa.seal_secret(keys.keyring, user.id, secret)
    user.totp_last_step = None
    uri = mfa.provisioning_uri(secret, user.email)
    return TotpSetup(secret=secret, otpauth_uri=uri, qr_svg=mfa.qr_svg(uri))


async def totp_enable(
    db: AsyncSession, keys: KeyStore, actor: Actor, code: str, context: RequestContext
) -> RecoveryCodes:
    user = await _locked_me(db, actor)
    if user.mfa_enabled:
        raise Conflict("Two-step sign-in is already on.", code="mfa_already_enabled")
    if user.totp_secret is None:
        raise Conflict("Start with /auth/mfa/totp/setup.", code="mfa_setup_required")
    if not await mfa.accept_code(db, keys.keyring, user, code):
        raise Invalid(
            "The code does not match: check the app's clock and try the next code.",
            code="invalid_mfa_code",
        )
    user.mfa_enabled_at = datetime.now(UTC)
    codes = await mfa.new_recovery_codes(db, keys.settings, user.id)
    await audit_user(db, "auth.mfa_enabled", user, context)
    return RecoveryCodes(recovery_codes=codes)


async def totp_disable(
    db: AsyncSession, keys: KeyStore, actor: Actor, body: TotpDisable, context: RequestContext
) -> None:
    """Requires the password and a current code (or a recovery code)."""
    user = await _locked_me(db, actor)
    if not user.mfa_enabled:
        raise Conflict("Two-step sign-in is not on.", code="mfa_not_enabled")
    password_ok = await password_matches(user.password_hash, body.password)
    code_ok = password_ok and (
        await mfa.accept_code(db, keys.keyring, user, body.code)
        or await mfa.use_recovery_code(db, keys.settings, user.id, body.code)
    )
    if not code_ok:
        await audit_user(db, "auth.mfa_disabled", user, context, outcome="failure")
        raise InvalidCredentials("Wrong password or code.", keep_changes=True)
    user.totp_secret = None
    user.mfa_enabled_at = None
    user.totp_last_step = None
    await db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    await audit_user(db, "auth.mfa_disabled", user, context)
