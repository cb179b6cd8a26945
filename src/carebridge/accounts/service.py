"""The rules of accounts: sign-up, sign-in, token rotation, sessions, profile, passwords."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts import links
from carebridge.accounts.actors import Actor
from carebridge.accounts.models import (
    CLINICIAN_ROLES,
    AuthSession,
    RefreshToken,
    Role,
    TokenPurpose,
    User,
    UserStatus,
)
from carebridge.accounts.schemas import (
    Credentials,
    EmailChange,
    PasswordChange,
    PasswordReset,
    ProfileUpdate,
    Registration,
    TokenPair,
)
from carebridge.accounts.tasks import (
    send_password_reset_email_task,
    send_verification_email_task,
)
from carebridge.accounts.tokens import (
    KeyStore,
    hash_refresh_token,
    issue_access_token,
    new_refresh_token,
)
from carebridge.compliance.service import record
from carebridge.platform.context import RequestContext
from carebridge.platform.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    RateLimited,
    Unauthenticated,
)
from carebridge.platform.jobs import defer_after_commit
from carebridge.platform.passwords import (
    hash_password,
    needs_rehash,
    password_problem,
    verify_password,
)
from carebridge.platform.ratelimit import RateLimiter

LOGIN_PER_IP = "30/minute"
LOGIN_PER_ACCOUNT = "10/minute"
REGISTER_PER_IP = "20/hour"


class InvalidCredentials(Unauthenticated):
    code = "invalid_credentials"
    title = "Wrong email or password"


def normalize_email(email: str) -> str:
    return email.strip().lower()


async def _hash(password: str) -> str:
    return await asyncio.to_thread(hash_password, password)


async def _verify(password_hash: str | None, password: str) -> bool:
    return await asyncio.to_thread(verify_password, password_hash, password)


def check_password(password: str, *context_words: str) -> None:
    problem = password_problem(password, context=[w for w in context_words if w])
    if problem is not None:
        raise Invalid(problem, code="weak_password")


# -- sign-up -------------------------------------------------------------------------------------


async def register(
    db: AsyncSession, limiter: RateLimiter, body: Registration, context: RequestContext
) -> User:
    await limiter.hit(REGISTER_PER_IP, "register", context.ip or "-")
    email = normalize_email(str(body.email))
    check_password(body.password, email, body.name)
    role = Role(body.role)
    user = User(
        email=email,
        name=body.name.strip(),
        role=role,
        status=UserStatus.pending if role in CLINICIAN_ROLES else UserStatus.active,
        password_hash=await _hash(body.password),
        time_zone=body.time_zone,
        locale=body.locale,
    )
    db.add(user)
    try:
        async with db.begin_nested():
            await db.flush()
    except IntegrityError as exc:
        raise Conflict("An account with this email already exists.", code="email_taken") from exc
    await record(
        db,
        action="auth.register",
        actor_id=user.id,
        actor_role=role,
        resource_type="user",
        resource_id=user.id,
        context=context,
    )
    defer_after_commit(db, send_verification_email_task, user_id=str(user.id))
    return user


async def create_admin(db: AsyncSession, *, email: str, name: str, password: str) -> User:
    """The first admin (and later ones), from the command line."""
    email = normalize_email(email)
    check_password(password, email, name)
    user = User(
        email=email,
        name=name,
        role=Role.admin,
        status=UserStatus.active,
        password_hash=await _hash(password),
        email_verified_at=datetime.now(UTC),
        approved_at=datetime.now(UTC),
    )
    db.add(user)
    try:
        async with db.begin_nested():
            await db.flush()
    except IntegrityError as exc:
        raise Conflict("An account with this email already exists.", code="email_taken") from exc
    await record(db, action="admin.created", resource_type="user", resource_id=user.id)
    return user


# -- sign-in and tokens --------------------------------------------------------------------------


async def login(
    db: AsyncSession,
    limiter: RateLimiter,
    keys: KeyStore,
    body: Credentials,
    context: RequestContext,
) -> TokenPair:
    email = normalize_email(str(body.email))
    await limiter.hit(LOGIN_PER_IP, "login-ip", context.ip or "-")
    await limiter.hit(LOGIN_PER_ACCOUNT, "login-account", email)
    user = await db.scalar(select(User).where(User.email == email).with_for_update())
    now = datetime.now(UTC)
    if user is not None and user.locked_until is not None and user.locked_until > now:
        raise RateLimited(
            "Too many failed sign-ins: this account is locked for a while.",
            code="account_locked",
            retry_after=max(1, int((user.locked_until - now).total_seconds())),
        )
    if not await _verify(user.password_hash if user else None, body.password) or user is None:
        await _failed_login(db, keys, user, context, now)
        raise InvalidCredentials("Wrong email or password.", keep_changes=True)
    if user.status == UserStatus.disabled:
        await record(
            db,
            action="auth.login",
            outcome="denied",
            actor_id=user.id,
            actor_role=user.role,
            resource_type="user",
            resource_id=user.id,
            context=context,
            reason="disabled",
        )
        raise Forbidden("This account is disabled.", code="account_disabled", keep_changes=True)
    user.failed_logins = 0
    user.locked_until = None
    if needs_rehash(user.password_hash):
        user.password_hash = await _hash(body.password)
    pair = await start_session(db, keys, user, context)
    await record(
        db,
        action="auth.login",
        actor_id=user.id,
        actor_role=user.role,
        resource_type="user",
        resource_id=user.id,
        context=context,
    )
    return pair


async def _failed_login(
    db: AsyncSession, keys: KeyStore, user: User | None, context: RequestContext, now: datetime
) -> None:
    details: dict[str, object] = {"reason": "unknown_email" if user is None else "wrong_password"}
    if user is not None:
        user.failed_logins += 1
        threshold = keys.settings.login_lock_threshold
        if user.failed_logins >= threshold:
            user.locked_until = now + timedelta(minutes=keys.settings.login_lock_minutes)
            user.failed_logins = 0
            details["locked"] = True
    await record(
        db,
        action="auth.login",
        outcome="failure",
        actor_id=user.id if user else None,
        actor_role=user.role if user else None,
        resource_type="user",
        resource_id=user.id if user else None,
        context=context,
        **details,
    )


async def start_session(
    db: AsyncSession, keys: KeyStore, user: User, context: RequestContext
) -> TokenPair:
    settings = keys.settings
    now = datetime.now(UTC)
    session = AuthSession(
        user_id=user.id,
        user_agent=(context.user_agent or None) and context.user_agent[:400],
        ip=context.ip,
        last_used_at=now,
        idle_expires_at=now + timedelta(days=settings.session_idle_days),
        absolute_expires_at=now + timedelta(days=settings.session_absolute_days),
    )
    db.add(session)
    await db.flush()
    return await _issue(db, keys, user, session)


async def _issue(db: AsyncSession, keys: KeyStore, user: User, session: AuthSession) -> TokenPair:
    refresh_token, token_hash = new_refresh_token()
    db.add(RefreshToken(session_id=session.id, token_hash=token_hash))
    access_token, expires_in = await issue_access_token(
        db, keys, user_id=user.id, role=user.role, session_id=session.id
    )
    await db.flush()
    return TokenPair(access_token=access_token, refresh_token=refresh_token, expires_in=expires_in)


class InvalidRefreshToken(Unauthenticated):
    code = "invalid_refresh_token"
    title = "The refresh token is not valid"


async def refresh(
    db: AsyncSession, keys: KeyStore, refresh_token: str, context: RequestContext
) -> TokenPair:
    """Rotate: the presented token is spent (atomically, so one of concurrent uses wins) and a
    new pair is issued. A spent token presented again revokes its whole family (the session)."""
    token_hash = hash_refresh_token(refresh_token)
    now = datetime.now(UTC)
    spent = (
        await db.execute(
            update(RefreshToken)
            .where(RefreshToken.token_hash == token_hash, RefreshToken.rotated_at.is_(None))
            .values(rotated_at=now)
            .returning(RefreshToken.session_id)
        )
    ).scalar_one_or_none()
    if spent is None:
        await _refused_refresh(db, token_hash, context)
    session = await db.get(AuthSession, spent, with_for_update=True)
    user = await db.get(User, session.user_id) if session is not None else None
    if (
        session is None
        or user is None
        or session.revoked_at is not None
        or session.idle_expires_at <= now
        or session.absolute_expires_at <= now
        or user.status == UserStatus.disabled
    ):
        raise InvalidRefreshToken("This session has ended; sign in again.")
    session.last_used_at = now
    session.idle_expires_at = min(
        now + timedelta(days=keys.settings.session_idle_days), session.absolute_expires_at
    )
    return await _issue(db, keys, user, session)


async def _refused_refresh(db: AsyncSession, token_hash: bytes, context: RequestContext) -> None:
    known = await db.scalar(select(RefreshToken).where(RefreshToken.token_hash == token_hash))
    if known is None:
        raise InvalidRefreshToken("This refresh token is not valid.")
    session = await db.get(AuthSession, known.session_id, with_for_update=True)
    assert session is not None
    if session.revoked_at is None:
        session.revoked_at = datetime.now(UTC)
        session.revoked_reason = "refresh_reuse"
        await record(
            db,
            action="auth.refresh_reuse",
            outcome="denied",
            actor_id=session.user_id,
            resource_type="session",
            resource_id=session.id,
            context=context,
        )
    raise InvalidRefreshToken(
        "This refresh token was already used; the session was ended for safety.",
        code="refresh_token_reused",
        keep_changes=True,
    )


# -- sessions --------------------------------------------------------------------------------


async def _revoke(
    db: AsyncSession,
    user_id: uuid.UUID,
    reason: str,
    *only: uuid.UUID,
    keep: uuid.UUID | None = None,
) -> int:
    query = (
        update(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC), revoked_reason=reason)
        .returning(AuthSession.id)
    )
    if only:
        query = query.where(AuthSession.id.in_(only))
    if keep is not None:
        query = query.where(AuthSession.id != keep)
    return len((await db.execute(query)).all())


async def logout(db: AsyncSession, actor: Actor, context: RequestContext) -> None:
    await _revoke(db, actor.id, "logout", actor.session_id)
    await record(
        db,
        action="auth.logout",
        actor_id=actor.id,
        actor_role=actor.role,
        resource_type="session",
        resource_id=actor.session_id,
        context=context,
    )


async def logout_all(db: AsyncSession, actor: Actor, context: RequestContext) -> int:
    count = await _revoke(db, actor.id, "logout_all")
    await record(
        db,
        action="auth.logout_all",
        actor_id=actor.id,
        actor_role=actor.role,
        resource_type="user",
        resource_id=actor.id,
        context=context,
        sessions=count,
    )
    return count


async def list_sessions(db: AsyncSession, actor: Actor) -> list[AuthSession]:
    now = datetime.now(UTC)
    rows = await db.scalars(
        select(AuthSession)
        .where(
            AuthSession.user_id == actor.id,
            AuthSession.revoked_at.is_(None),
            AuthSession.idle_expires_at > now,
            AuthSession.absolute_expires_at > now,
        )
        .order_by(AuthSession.last_used_at.desc())
    )
    return list(rows)


async def revoke_session(
    db: AsyncSession, actor: Actor, session_id: uuid.UUID, context: RequestContext
) -> None:
    if not await _revoke(db, actor.id, "revoked_by_user", session_id):
        raise NotFound("No such session.")
    await record(
        db,
        action="auth.session_revoked",
        actor_id=actor.id,
        actor_role=actor.role,
        resource_type="session",
        resource_id=session_id,
        context=context,
    )


async def revoke_other_sessions(db: AsyncSession, actor: Actor, context: RequestContext) -> int:
    count = await _revoke(db, actor.id, "revoked_by_user", keep=actor.session_id)
    await record(
        db,
        action="auth.other_sessions_revoked",
        actor_id=actor.id,
        actor_role=actor.role,
        resource_type="user",
        resource_id=actor.id,
        context=context,
        sessions=count,
    )
    return count


# -- profile and password ----------------------------------------------------------------------


async def get_me(db: AsyncSession, actor: Actor) -> User:
    user = await db.get(User, actor.id)
    if user is None:
        raise NotFound("No such user.")
    return user


async def update_me(db: AsyncSession, actor: Actor, body: ProfileUpdate) -> User:
    user = await get_me(db, actor)
    changes = body.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] is not None:
        user.name = changes["name"].strip()
    if "phone" in changes:
        user.phone = changes["phone"] or None
    if changes.get("time_zone") is not None:
        user.time_zone = changes["time_zone"]
    if changes.get("locale") is not None:
        user.locale = changes["locale"]
    await db.flush()
    return user


async def change_password(
    db: AsyncSession, keys: KeyStore, actor: Actor, body: PasswordChange, context: RequestContext
) -> TokenPair:
    """Requires the current password. Every session of the user ends (their tokens stop working
    at once); the caller gets a fresh session in the answer."""
    user = await get_me(db, actor)
    if not await _verify(user.password_hash, body.current_password):
        await record(
            db,
            action="auth.password_change",
            outcome="failure",
            actor_id=user.id,
            actor_role=user.role,
            resource_type="user",
            resource_id=user.id,
            context=context,
        )
        raise InvalidCredentials("The current password is wrong.", keep_changes=True)
    check_password(body.new_password, user.email, user.name)
    user.password_hash = await _hash(body.new_password)
    user.password_changed_at = datetime.now(UTC)
    ended = await _revoke(db, user.id, "password_changed")
    await record(
        db,
        action="auth.password_change",
        actor_id=user.id,
        actor_role=user.role,
        resource_type="user",
        resource_id=user.id,
        context=context,
        sessions_ended=ended,
    )
    return await start_session(db, keys, user, context)


# -- email verification, password reset, email change -------------------------------------------

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
    defer_after_commit(db, send_verification_email_task, user_id=str(user.id))
    await record(
        db,
        action="auth.verification_resent",
        actor_id=user.id,
        actor_role=user.role,
        resource_type="user",
        resource_id=user.id,
        context=context,
    )


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
        await _revoke(db, user.id, "email_changed")
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
    defer_after_commit(db, send_password_reset_email_task, user_id=str(user.id))
    await record(
        db,
        action="auth.password_reset_requested",
        actor_id=user.id,
        actor_role=user.role,
        resource_type="user",
        resource_id=user.id,
        context=context,
    )


async def reset_password(db: AsyncSession, body: PasswordReset, context: RequestContext) -> None:
    """Set a new password from a reset link. Every session ends; the person then signs in
    normally (with their second factor when they have one: a reset never bypasses it)."""
    spent = await links.spend(db, body.token, TokenPurpose.reset_password)
    user = await db.get(User, spent.user_id, with_for_update=True)
    if user is None or user.status == UserStatus.disabled:
        raise links.InvalidLink("This link is not valid any more.")
    check_password(body.new_password, user.email, user.name)
    user.password_hash = await _hash(body.new_password)
    user.password_changed_at = datetime.now(UTC)
    user.failed_logins = 0
    user.locked_until = None
    if user.email_verified_at is None:
        user.email_verified_at = datetime.now(UTC)  # the link proved the mailbox
    ended = await _revoke(db, user.id, "password_reset")
    await record(
        db,
        action="auth.password_reset",
        actor_id=user.id,
        actor_role=user.role,
        resource_type="user",
        resource_id=user.id,
        context=context,
        sessions_ended=ended,
    )


async def request_email_change(
    db: AsyncSession, actor: Actor, body: EmailChange, context: RequestContext
) -> None:
    """Send a verification link to the new address; the change happens when it is opened."""
    user = await get_me(db, actor)
    if not await _verify(user.password_hash, body.current_password):
        raise InvalidCredentials("The current password is wrong.")
    new_email = normalize_email(str(body.new_email))
    if new_email == user.email:
        raise Conflict("This is already your email address.", code="same_email")
    if await db.scalar(select(User.id).where(User.email == new_email)) is not None:
        raise Conflict("Another account uses this email.", code="email_taken")
    defer_after_commit(db, send_verification_email_task, user_id=str(user.id), new_email=new_email)
    await record(
        db,
        action="auth.email_change_requested",
        actor_id=user.id,
        actor_role=user.role,
        resource_type="user",
        resource_id=user.id,
        context=context,
    )
