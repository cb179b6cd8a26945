"""What a person proves they know, checked in one place: the password at sign-in and wherever a
route asks for it again (changing the password or the email, turning two-step sign-in off), and
the second factor (the second sign-in step, turning two-step sign-in off).

Every check is throttled per client (IP) and per account with sign-in's own limits, refused while
the account is locked, and a failure counts towards the same lock and is audited. Without that, a
stolen session could guess the password without end on a route that asks for it again, and then
sign in with it. A route gets the checks only by declaring the dependency (``CheckCredentials``),
so a new route that checks a password is throttled like sign-in, and the tests find every such
route by it.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Annotated, Any

from fastapi import Depends
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts import mfa, passkeys
from carebridge.accounts.actors import Keys
from carebridge.accounts.hooks import record
from carebridge.accounts.models import PasskeyCeremony, User
from carebridge.accounts.passkeys import PasskeyRefused
from carebridge.accounts.policy import SecondStep, second_steps
from carebridge.accounts.tokens import KeyStore
from carebridge.config import Settings
from carebridge.platform.context import Context, RequestContext
from carebridge.platform.deps import RuntimeDep
from carebridge.platform.errors import Forbidden, Invalid, NotFound, RateLimited, Unauthenticated
from carebridge.platform.passwords import verify_password
from carebridge.platform.ratelimit import RateLimiter

LOGIN_PER_IP = "30/minute"
LOGIN_PER_ACCOUNT = "10/minute"
MFA_PER_ACCOUNT = "10/minute"


class InvalidCredentials(Unauthenticated):
    code = "invalid_credentials"
    title = "Wrong email or password"


class InvalidMfaCode(Unauthenticated):
    code = "invalid_mfa_code"
    title = "Wrong or reused code"


async def password_matches(settings: Settings, password_hash: str | None, password: str) -> bool:
    return await asyncio.to_thread(
        partial(verify_password, cost=settings.password_hash_cost), password_hash, password
    )


@dataclass(frozen=True)
class CredentialCheck:
    """The checks, for one request: its client, and the app's limiter and keys."""

    limiter: RateLimiter
    keys: KeyStore
    context: RequestContext

    async def sign_in(self, db: AsyncSession, email: str, password: str) -> User:
        """The account of ``email`` (locked for update) if ``password`` is its password. An
        unknown email costs the time of a wrong password and answers the same."""
        await self._throttle(email)
        user = await db.scalar(select(User).where(User.email == email).with_for_update())
        return await self._password(db, user, password, "auth.login", "Wrong email or password.")

    async def current_password(
        self, db: AsyncSession, user_id: uuid.UUID, password: str, *, action: str
    ) -> User:
        """A signed-in user (locked for update), if ``password`` is theirs: a stolen session
        does not know it. ``action`` names the failure in the audit trail."""
        user = await db.get(User, user_id, with_for_update=True)
        if user is None:
            raise NotFound("No such user.")
        await self._throttle(user.email)
        return await self._password(db, user, password, action, "The current password is wrong.")

    async def second_factor(
        self,
        db: AsyncSession,
        user: User,
        *,
        code: str | None,
        recovery_code: str | None,
        action: str,
        passkey: dict[str, Any] | None = None,
    ) -> SecondStep:
        """How ``user`` (locked for update) proved the second factor: ``passkey`` (the answer to
        the second step's options), ``totp`` (each code works once) or ``recovery_code`` (each
        works once), as far as the clinic's policy lets this user use each."""
        await self.limiter.hit(MFA_PER_ACCOUNT, "mfa", str(user.id))
        now = datetime.now(UTC)
        _check_unlocked(user, now)
        settings = self.keys.settings
        steps = second_steps(
            settings, user.role, totp=user.mfa_enabled, passkey=user.passkey_count > 0
        )
        if not code and not recovery_code and passkey is None:
            raise Invalid(
                "Send a passkey, a code from the authenticator app or a recovery code.",
                code="code_required",
            )
        if code and user.mfa_enabled and "totp" not in steps:
            raise Forbidden(
                "Staff of this clinic sign in with a passkey (or a recovery code), not a code "
                "from an app.",
                code="passkey_required",
            )
        if code and await mfa.accept_code(db, self.keys.keyring, user, code):
            return "totp"
        if recovery_code and await mfa.use_recovery_code(db, settings, user.id, recovery_code):
            return "recovery_code"
        if passkey is not None:
            try:
                await passkeys.verify_use(
                    db, settings, passkey, PasskeyCeremony.second_step, user.id
                )
            except PasskeyRefused as exc:
                await self._failed(db, user, now, action, exc.error_code)
                raise
            return "passkey"
        await self._failed(db, user, now, action, "wrong_code")
        raise InvalidMfaCode("Wrong or already used code.", keep_changes=True)

    async def _throttle(self, email: str) -> None:
        await self.limiter.hit(LOGIN_PER_IP, "login-ip", self.context.ip or "-")
        await self.limiter.hit(LOGIN_PER_ACCOUNT, "login-account", email)

    async def _password(
        self, db: AsyncSession, user: User | None, password: str, action: str, wrong: str
    ) -> User:
        now = datetime.now(UTC)
        if user is not None:
            _check_unlocked(user, now)
        known_hash = user.password_hash if user is not None else None
        settings = self.keys.settings
        if not await password_matches(settings, known_hash, password) or user is None:
            reason = "unknown_email" if user is None else "wrong_password"
            await self._failed(db, user, now, action, reason)
            raise InvalidCredentials(wrong, keep_changes=True)
        return user

    async def _failed(
        self, db: AsyncSession, user: User | None, now: datetime, action: str, reason: str
    ) -> None:
        """One more consecutive failure of the account: at the threshold it is locked."""
        details: dict[str, object] = {"reason": reason}
        if user is not None:
            user.failed_logins += 1
            settings = self.keys.settings
            if user.failed_logins >= settings.login_lock_threshold:
                user.locked_until = now + timedelta(minutes=settings.login_lock_minutes)
                user.failed_logins = 0
                details["locked"] = True
        await record(
            db,
            action=action,
            outcome="failure",
            actor_id=user.id if user else None,
            actor_role=user.role if user else None,
            resource_type="user",
            resource_id=user.id if user else None,
            context=self.context,
            **details,
        )


def _check_unlocked(user: User, now: datetime) -> None:
    if user.locked_until is not None and user.locked_until > now:
        raise RateLimited(
            "Too many failed sign-ins: this account is locked for a while.",
            code="account_locked",
            retry_after=max(1, int((user.locked_until - now).total_seconds())),
        )


async def credential_check(runtime: RuntimeDep, keys: Keys, context: Context) -> CredentialCheck:
    """Declared by every route that checks a password or a second factor."""
    return CredentialCheck(runtime.ratelimiter, keys, context)


CheckCredentials = Annotated[CredentialCheck, Depends(credential_check)]
