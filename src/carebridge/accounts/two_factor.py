"""The second sign-in factor: TOTP enrolment, verification, recovery codes."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts import mfa
from carebridge.accounts.actors import Actor
from carebridge.accounts.credentials import (
    CredentialCheck,
    InvalidCredentials,
    InvalidMfaCode,
)
from carebridge.accounts.models import RecoveryCode, User, UserStatus
from carebridge.accounts.schemas import (
    MfaVerify,
    RecoveryCodes,
    TokenPair,
    TotpDisable,
    TotpSetup,
)
from carebridge.accounts.service import audit_user, start_session
from carebridge.accounts.tokens import KeyStore, verify_mfa_token
from carebridge.platform.context import RequestContext
from carebridge.platform.errors import Conflict, Invalid, NotFound

# -- second factor (TOTP) -----------------------------------------------------------------------


async def verify_mfa(db: AsyncSession, check: CredentialCheck, body: MfaVerify) -> TokenPair:
    """Second sign-in step: the MFA token from /login plus a TOTP code or a recovery code."""
    user = await second_factor(db, check, body)
    return await start_session(db, check.keys, user, check.context)


async def second_factor(db: AsyncSession, check: CredentialCheck, body: MfaVerify) -> User:
    """Check the TOTP or recovery code for the MFA token's user (throttled, lockout, audited)."""
    user_id = await verify_mfa_token(db, check.keys, body.mfa_token)
    user = await db.get(User, user_id, with_for_update=True)
    if user is None or user.status == UserStatus.disabled or not user.mfa_enabled:
        raise InvalidCredentials("Sign in again.")
    method = await check.second_factor(
        db, user, code=body.code, recovery_code=body.recovery_code, action="auth.mfa_verify"
    )
    user.failed_logins = 0
    user.locked_until = None
    await audit_user(db, "auth.mfa_verify", user, check.context, method=method)
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


async def _prove_password_and_code(
    db: AsyncSession, check: CredentialCheck, actor: Actor, body: TotpDisable, *, action: str
) -> User:
    """The signed-in user (locked for update), once the password and a current code (or a
    recovery code) are both right, each checked as sign-in checks it. The answer does not say
    which of the two was wrong."""
    try:
        user = await check.current_password(db, actor.id, body.password, action=action)
        if not user.mfa_enabled:
            raise Conflict("Two-step sign-in is not on.", code="mfa_not_enabled")
        await check.second_factor(db, user, code=body.code, recovery_code=body.code, action=action)
    except (InvalidCredentials, InvalidMfaCode) as exc:
        raise InvalidCredentials("Wrong password or code.", keep_changes=True) from exc
    return user


async def totp_disable(
    db: AsyncSession, check: CredentialCheck, actor: Actor, body: TotpDisable
) -> None:
    """Requires the password and a current code (or a recovery code)."""
    user = await _prove_password_and_code(db, check, actor, body, action="auth.mfa_disabled")
    user.totp_secret = None
    user.mfa_enabled_at = None
    user.totp_last_step = None
    await db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    await audit_user(db, "auth.mfa_disabled", user, check.context)


async def renew_recovery_codes(
    db: AsyncSession, check: CredentialCheck, actor: Actor, body: TotpDisable
) -> RecoveryCodes:
    """Ten new recovery codes in place of the old ones (used or not), which stop working.
    Requires the password and a current code (or one of the old recovery codes)."""
    action = "auth.mfa_recovery_codes_renewed"
    user = await _prove_password_and_code(db, check, actor, body, action=action)
    codes = await mfa.new_recovery_codes(db, check.keys.settings, user.id)
    await audit_user(db, action, user, check.context)
    return RecoveryCodes(recovery_codes=codes)
