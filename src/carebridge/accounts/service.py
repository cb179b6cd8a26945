"""The rules of accounts: sign-up, sign-in, token rotation, sessions, profile, passwords."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from functools import partial

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.accounts.credentials import CredentialCheck
from carebridge.accounts.devices import note_sign_in
from carebridge.accounts.hooks import SIGNED_UP, SignedUp, record
from carebridge.accounts.models import (
    CLINICIAN_ROLES,
    AuthSession,
    RefreshToken,
    Role,
    User,
    UserStatus,
)
from carebridge.accounts.policy import enrolment_missing, live_session, second_steps
from carebridge.accounts.schemas import (
    Credentials,
    MfaChallenge,
    PasswordChange,
    ProfileUpdate,
    Registration,
    TokenPair,
)
from carebridge.accounts.tokens import (
    KeyStore,
    hash_refresh_token,
    issue_access_token,
    issue_mfa_token,
    new_refresh_token,
)
from carebridge.config import Settings
from carebridge.platform.context import CallScope, RequestContext
from carebridge.platform.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    Unauthenticated,
)
from carebridge.platform.events import publish_after_commit
from carebridge.platform.inputs import Name
from carebridge.platform.passwords import (
    hash_password,
    needs_rehash,
    password_problem,
)
from carebridge.platform.ratelimit import RateLimiter

REGISTER_PER_IP = "20/hour"


async def audit_user(
    db: AsyncSession,
    action: str,
    user: User | Actor,
    context: RequestContext,
    outcome: str = "success",
    **details: object,
) -> None:
    """Record an event a user did to their own account (``user`` may be the signed-in actor)."""
    await record(
        db,
        action=action,
        outcome=outcome,
        actor_id=user.id,
        actor_role=user.role,
        resource_type="user",
        resource_id=user.id,
        context=context,
        **details,
    )


def normalize_email(email: str) -> str:
    return email.strip().lower()


async def hash_new_password(settings: Settings, password: str) -> str:
    return await asyncio.to_thread(
        partial(hash_password, cost=settings.password_hash_cost), password
    )


def check_password(password: str, *context_words: str) -> None:
    problem = password_problem(password, context=[w for w in context_words if w])
    if problem is not None:
        raise Invalid(problem, code="weak_password")


# -- sign-up -------------------------------------------------------------------------------------


async def register(
    db: AsyncSession,
    limiter: RateLimiter,
    settings: Settings,
    body: Registration,
    context: RequestContext,
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
        password_hash=await hash_new_password(settings, body.password),
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
    accepted = tuple((choice.kind, choice.version) for choice in body.consents)
    await SIGNED_UP.fire(db, SignedUp(user.id, role, accepted, context))
    from carebridge.accounts.email_flows import notify_verification  # it imports this module

    await notify_verification(db, user.id)
    return user


_NAME = TypeAdapter(Name)


def check_name(name: str) -> str:
    """A name given outside a request body (the command line), held to the rule of every name."""
    try:
        return _NAME.validate_python(name)
    except ValidationError as exc:
        raise Invalid(
            "A name needs at least one letter (at most 200 characters).", code="bad_name"
        ) from exc


async def create_admin(
    db: AsyncSession, settings: Settings, *, email: str, name: str, password: str
) -> User:
    """The first admin (and later ones), from the command line."""
    email = normalize_email(email)
    name = check_name(name)
    check_password(password, email, name)
    user = User(
        email=email,
        name=name,
        role=Role.admin,
        status=UserStatus.active,
        password_hash=await hash_new_password(settings, password),
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


async def first_factor(
    db: AsyncSession, check: CredentialCheck, body: Credentials
) -> tuple[User, MfaChallenge | None]:
    """Check email and password (throttled, lockout, audited). Returns the user, and the MFA
    challenge when a second factor is still due."""
    user = await check.sign_in(db, normalize_email(str(body.email)), body.password)
    context = check.context
    if user.status == UserStatus.disabled:
        await audit_user(db, "auth.login", user, context, outcome="denied", reason="disabled")
        raise Forbidden("This account is disabled.", code="account_disabled", keep_changes=True)
    settings = check.keys.settings
    if needs_rehash(user.password_hash, cost=settings.password_hash_cost):
        user.password_hash = await hash_new_password(settings, body.password)
    steps = second_steps(
        check.keys.settings, user.role, totp=user.mfa_enabled, passkey=user.passkey_count > 0
    )
    if steps:
        await audit_user(db, "auth.login", user, context, outcome="mfa_required")
        token = await issue_mfa_token(db, check.keys, user.id)
        return user, MfaChallenge(mfa_token=token, methods=list(steps))
    user.failed_logins = 0
    user.locked_until = None
    await audit_user(db, "auth.login", user, context)
    return user, None


async def login(
    db: AsyncSession, check: CredentialCheck, body: Credentials
) -> TokenPair | MfaChallenge:
    user, challenge = await first_factor(db, check, body)
    if challenge is not None:
        return challenge
    return await start_session(db, check.keys, user, check.context)


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
    await note_sign_in(db, CallScope(settings, keys.keyring, context), user, "app")
    return await _issue(db, keys, user, session)


async def _issue(db: AsyncSession, keys: KeyStore, user: User, session: AuthSession) -> TokenPair:
    refresh_token, token_hash = new_refresh_token()
    db.add(RefreshToken(session_id=session.id, token_hash=token_hash))
    access_token, expires_in = await issue_access_token(
        db, keys, user_id=user.id, role=user.role, session_id=session.id
    )
    await db.flush()
    return TokenPair(
        access_token=access_token,
        refresh_token=refresh_token,
        expires_in=expires_in,
        mfa_enrollment_required=enrolment_missing(
            keys.settings, user.role, totp=user.mfa_enabled, passkey=user.passkey_count > 0
        ),
    )


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


async def end_sessions(
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
    ended = (await db.scalars(query)).all()
    for session_id in ended:
        # Open WebSockets of the session close once this commits (any process).
        publish_after_commit(db, f"session.{session_id}", "ended", {"reason": reason})
    return len(ended)


async def logout(db: AsyncSession, actor: Actor, context: RequestContext) -> None:
    await end_sessions(db, actor.id, "logout", actor.session_id)
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
    count = await end_sessions(db, actor.id, "logout_all")
    await audit_user(db, "auth.logout_all", actor, context, sessions=count)
    return count


async def list_sessions(db: AsyncSession, actor: Actor) -> list[AuthSession]:
    now = datetime.now(UTC)
    rows = await db.scalars(
        select(AuthSession)
        .join(User, User.id == AuthSession.user_id)
        .where(AuthSession.user_id == actor.id, live_session(now))
        .order_by(AuthSession.last_used_at.desc())
    )
    return list(rows)


async def revoke_session(
    db: AsyncSession, actor: Actor, session_id: uuid.UUID, context: RequestContext
) -> None:
    if not await end_sessions(db, actor.id, "revoked_by_user", session_id):
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
    count = await end_sessions(db, actor.id, "revoked_by_user", keep=actor.session_id)
    await audit_user(db, "auth.other_sessions_revoked", actor, context, sessions=count)
    return count


# -- profile and password ----------------------------------------------------------------------


async def get_me(db: AsyncSession, actor: Actor) -> User:
    user = await db.get(User, actor.id)
    if user is None:
        raise NotFound("No such user.")
    return user


async def time_zone_of(db: AsyncSession, user_id: uuid.UUID) -> str:
    """The IANA zone a person's account keeps their clock in (UTC when unknown)."""
    zone = await db.scalar(select(User.time_zone).where(User.id == user_id))
    return zone or "UTC"


async def names_of(db: AsyncSession, user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The names people are shown by, by user id (an id that names nobody is left out)."""
    rows = await db.execute(select(User.id, User.name).where(User.id.in_(set(user_ids))))
    return {row.id: row.name for row in rows}


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


async def change_password_and_resume(
    db: AsyncSession, check: CredentialCheck, actor: Actor, body: PasswordChange
) -> TokenPair:
    """Change the password (every session ends) and give this device a fresh session."""
    user = await change_password(db, check, actor, body)
    return await start_session(db, check.keys, user, check.context)


async def change_password(
    db: AsyncSession, check: CredentialCheck, actor: Actor, body: PasswordChange
) -> User:
    """Requires the current password (checked as sign-in checks it). Every session of the user
    ends: their tokens and cookies stop working at once."""
    user = await check.current_password(
        db, actor.id, body.current_password, action="auth.password_change"
    )
    check_password(body.new_password, user.email, user.name)
    user.password_hash = await hash_new_password(check.keys.settings, body.new_password)
    user.password_changed_at = datetime.now(UTC)
    ended = await end_sessions(db, user.id, "password_changed")
    await audit_user(db, "auth.password_change", user, check.context, sessions_ended=ended)
    return user
