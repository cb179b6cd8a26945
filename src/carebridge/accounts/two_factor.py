"""The second sign-in factor: TOTP enrolment, passkeys (added, used alone or as the second step,
renamed, removed), verification, recovery codes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts import mfa, passkeys
from carebridge.accounts.actors import Actor
from carebridge.accounts.credentials import (
    LOGIN_PER_IP,
    CredentialCheck,
    InvalidCredentials,
    InvalidMfaCode,
)
from carebridge.accounts.hooks import record
from carebridge.accounts.models import PasskeyCeremony, RecoveryCode, User, UserStatus
from carebridge.accounts.passkeys import CounterWentBack, PasskeyRefused
from carebridge.accounts.policy import (
    SecondStep,
    enrolment_advice,
    enrolment_missing,
    second_steps,
)
from carebridge.accounts.schemas import (
    MfaVerify,
    PasskeyAdd,
    PasskeyAdded,
    PasskeyOptions,
    PasskeyOut,
    PasskeyRegistrationStart,
    PasskeyRename,
    PasskeySignIn,
    RecoveryCodes,
    TokenPair,
    TotpDisable,
    TotpSetup,
)
from carebridge.accounts.service import audit_user, start_session
from carebridge.accounts.tokens import KeyStore, verify_mfa_token
from carebridge.config import Settings
from carebridge.platform.context import CallScope, RequestContext
from carebridge.platform.errors import Conflict, Forbidden, Invalid, NotFound
from carebridge.platform.ratelimit import RateLimiter

# -- second factor (TOTP) -----------------------------------------------------------------------


async def verify_mfa(db: AsyncSession, check: CredentialCheck, body: MfaVerify) -> TokenPair:
    """Second sign-in step: the MFA token from /login plus a TOTP code or a recovery code."""
    user = await second_factor(db, check, body)
    return await start_session(db, check.keys, user, check.context)


async def second_step_methods(
    db: AsyncSession, keys: KeyStore, mfa_token: str
) -> tuple[SecondStep, ...]:
    """What the user whose password was right may send as the second step."""
    user_id = await verify_mfa_token(db, keys, mfa_token)
    user = await db.get(User, user_id)
    if user is None or user.status == UserStatus.disabled:
        raise InvalidCredentials("Sign in again.")
    return second_steps(
        keys.settings, user.role, totp=user.mfa_enabled, passkey=user.passkey_count > 0
    )


async def second_factor(db: AsyncSession, check: CredentialCheck, body: MfaVerify) -> User:
    """Check the TOTP or recovery code for the MFA token's user (throttled, lockout, audited)."""
    user_id = await verify_mfa_token(db, check.keys, body.mfa_token)
    user = await db.get(User, user_id, with_for_update=True)
    if user is None or user.status == UserStatus.disabled or not _two_step_on(user):
        raise InvalidCredentials("Sign in again.")
    method = await check.second_factor(
        db,
        user,
        code=body.code,
        recovery_code=body.recovery_code,
        passkey=body.passkey.as_json() if body.passkey is not None else None,
        action="auth.mfa_verify",
    )
    user.failed_logins = 0
    user.locked_until = None
    await audit_user(db, "auth.mfa_verify", user, check.context, method=method)
    return user


def _two_step_on(user: User) -> bool:
    return user.mfa_enabled or user.passkey_count > 0


def _check_keeps_a_factor(settings: Settings, user: User, *, totp: bool, passkeys: int) -> None:
    """Refuse a removal that would leave a member of staff without the second factor the
    clinic's policy requires (``totp``/``passkeys``: what would be left)."""
    if enrolment_missing(settings, user.role, totp=totp, passkey=passkeys > 0):
        raise Conflict(
            "Staff accounts must keep a second factor: add another one first. "
            + enrolment_advice(settings, user.role),
            code="last_second_factor",
        )


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
            raise Conflict("No authenticator app is set up.", code="mfa_not_enabled")
        await check.second_factor(db, user, code=body.code, recovery_code=body.code, action=action)
    except (InvalidCredentials, InvalidMfaCode) as exc:
        raise InvalidCredentials("Wrong password or code.", keep_changes=True) from exc
    return user


async def totp_disable(
    db: AsyncSession, check: CredentialCheck, actor: Actor, body: TotpDisable
) -> None:
    """Requires the password and a current code (or a recovery code)."""
    user = await _prove_password_and_code(db, check, actor, body, action="auth.mfa_disabled")
    _check_keeps_a_factor(check.keys.settings, user, totp=False, passkeys=user.passkey_count)
    user.totp_secret = None
    user.mfa_enabled_at = None
    user.totp_last_step = None
    if not _two_step_on(user):  # with a passkey left, its recovery codes still stand in for it
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


# -- passkeys -------------------------------------------------------------------------------------


async def passkey_registration_options(
    db: AsyncSession, check: CredentialCheck, actor: Actor, body: PasskeyRegistrationStart
) -> PasskeyOptions:
    """Adding a passkey starts with the password (checked as sign-in checks it)."""
    user = await check.current_password(db, actor.id, body.password, action="auth.passkey_added")
    return PasskeyOptions(options=await passkeys.options_to_register(db, check.keys.settings, user))


async def add_passkey(
    db: AsyncSession, scope: CallScope, actor: Actor, body: PasskeyAdd
) -> PasskeyAdded:
    """Store the browser's new passkey. The first second factor of an account turns two-step
    sign-in on and comes with ten recovery codes, shown once."""
    user = await _locked_me(db, actor)
    first = not _two_step_on(user)
    passkey = await passkeys.register(
        db, scope.settings, user, body.name, body.credential.as_json()
    )
    codes = await mfa.new_recovery_codes(db, scope.settings, user.id) if first else None
    await audit_user(db, "auth.passkey_added", user, scope.origin, passkey_id=str(passkey.id))
    return PasskeyAdded(passkey=PasskeyOut.model_validate(passkey), recovery_codes=codes)


async def list_passkeys(db: AsyncSession, actor: Actor) -> list[PasskeyOut]:
    return [PasskeyOut.model_validate(p) for p in await passkeys.passkeys_of(db, actor.id)]


async def rename_passkey(
    db: AsyncSession, scope: CallScope, actor: Actor, passkey_id: uuid.UUID, body: PasskeyRename
) -> PasskeyOut:
    passkey = await passkeys.own_passkey(db, actor.id, passkey_id)
    passkey.name = body.name
    await db.flush()
    await audit_user(db, "auth.passkey_renamed", actor, scope.origin, passkey_id=str(passkey.id))
    return PasskeyOut.model_validate(passkey)


async def remove_passkey(
    db: AsyncSession, scope: CallScope, actor: Actor, passkey_id: uuid.UUID
) -> None:
    """Remove one of the caller's passkeys; not the last second factor staff must keep. With no
    second factor left, two-step sign-in is off and the recovery codes go."""
    user = await _locked_me(db, actor)
    passkey = await passkeys.own_passkey(db, user.id, passkey_id)
    _check_keeps_a_factor(
        scope.settings, user, totp=user.mfa_enabled, passkeys=user.passkey_count - 1
    )
    await passkeys.remove(db, user, passkey)
    if not _two_step_on(user):
        await db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    await audit_user(db, "auth.passkey_removed", user, scope.origin, passkey_id=str(passkey_id))


async def passkey_second_step_options(
    db: AsyncSession, keys: KeyStore, mfa_token: str
) -> PasskeyOptions:
    """The second step's options: the passkeys of the user whose password was right."""
    user_id = await verify_mfa_token(db, keys, mfa_token)
    return PasskeyOptions(options=await passkeys.second_step_options(db, keys.settings, user_id))


async def passkey_sign_in_options(
    db: AsyncSession, scope: CallScope, limiter: RateLimiter
) -> PasskeyOptions:
    """Options to sign in with a passkey alone (throttled per client as sign-in is)."""
    await limiter.hit(LOGIN_PER_IP, "login-ip", scope.origin.ip or "-")
    return PasskeyOptions(options=await passkeys.sign_in_options(db, scope.settings))


async def passkey_sign_in(
    db: AsyncSession, scope: CallScope, limiter: RateLimiter, body: PasskeySignIn
) -> User:
    """The user a passkey signs in alone. It verified its user (PIN or biometrics), so it is
    both factors; it is throttled per client as sign-in is, but the account's password lock
    does not hold it (a passkey is not guessed). A refusal is audited, with the passkey's owner
    when it was a copied key."""
    await limiter.hit(LOGIN_PER_IP, "login-ip", scope.origin.ip or "-")
    try:
        use = await passkeys.verify_use(
            db, scope.settings, body.credential.as_json(), PasskeyCeremony.sign_in
        )
    except PasskeyRefused as exc:
        owner = exc.passkey.user_id if isinstance(exc, CounterWentBack) else None
        await record(
            db,
            action="auth.login",
            outcome="failure",
            actor_id=owner,
            resource_type="user",
            resource_id=owner,
            context=scope.origin,
            method="passkey",
            reason=exc.error_code,
        )
        raise
    user = await db.get(User, use.user_id, with_for_update=True)
    assert user is not None  # the passkey's row names it (ON DELETE CASCADE)
    if user.status == UserStatus.disabled:
        await audit_user(db, "auth.login", user, scope.origin, outcome="denied", reason="disabled")
        raise Forbidden("This account is disabled.", code="account_disabled", keep_changes=True)
    user.failed_logins = 0
    user.locked_until = None
    await audit_user(db, "auth.login", user, scope.origin, method="passkey")
    return user
