"""Admin use cases on accounts: find users, disable/enable them, approve clinicians; who a user id
or an email is (for the admin pages of other domains: the audit trail, the deliveries)."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.accounts.hooks import record
from carebridge.accounts.models import CLINICIAN_ROLES, Role, User, UserStatus
from carebridge.accounts.service import end_sessions, normalize_email
from carebridge.platform.context import RequestContext
from carebridge.platform.errors import Conflict, NotFound
from carebridge.platform.pagination import Page, keyset_page


def search_users(query: str | None, role: Role | None, status: UserStatus | None) -> Select[Any]:
    statement = select(User)
    if query:
        pattern = f"%{query.strip().lower()}%"
        statement = statement.where(or_(User.email.like(pattern), User.name.ilike(pattern)))
    if role is not None:
        statement = statement.where(User.role == role)
    if status is not None:
        statement = statement.where(User.status == status)
    return statement


async def list_users(
    db: AsyncSession,
    actor: Actor,
    *,
    query: str | None,
    role: Role | None,
    status: UserStatus | None,
    cursor: str | None,
    limit: int,
) -> Page[User]:
    return await keyset_page(
        db, search_users(query, role, status), User, cursor=cursor, limit=limit
    )


async def user_id_by_email(db: AsyncSession, email: str) -> uuid.UUID | None:
    return await db.scalar(select(User.id).where(User.email == normalize_email(email)))


async def emails_of(db: AsyncSession, user_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The email of each of ``user_ids`` that still has an account."""
    if not user_ids:
        return {}
    rows = await db.execute(select(User.id, User.email).where(User.id.in_(set(user_ids))))
    return {row.id: row.email for row in rows}


async def _user(db: AsyncSession, user_id: uuid.UUID) -> User:
    user = await db.get(User, user_id, with_for_update=True)
    if user is None:
        raise NotFound("No such user.")
    return user


def may_disable(actor: Actor, user_id: uuid.UUID) -> bool:
    """An administrator never disables their own account: nobody could enable it again if they
    were the last one, and a slip would sign them out mid-task."""
    return user_id != actor.id


def check_may_disable(actor: Actor, user_id: uuid.UUID) -> None:
    if not may_disable(actor, user_id):
        raise Conflict("You cannot disable your own account.", code="cannot_disable_self")


def user_actions(actor: Actor, user: User) -> list[str]:
    """What ``actor`` may do to ``user`` now, by the rules of the functions below: the admin
    pages offer these and nothing else."""
    actions = []
    if user.status == UserStatus.pending and user.role in CLINICIAN_ROLES:
        actions.append("approve")
    if user.status == UserStatus.disabled:
        actions.append("enable")
    elif may_disable(actor, user.id):
        actions.append("disable")
    return actions


async def get_user(db: AsyncSession, user_id: uuid.UUID) -> User:
    user = await db.get(User, user_id)
    if user is None:
        raise NotFound("No such user.")
    return user


async def disable_user(
    db: AsyncSession, actor: Actor, user_id: uuid.UUID, context: RequestContext
) -> User:
    """Disable an account: every session of it ends at once."""
    check_may_disable(actor, user_id)
    user = await _user(db, user_id)
    user.status = UserStatus.disabled
    await end_sessions(db, user.id, "user_disabled")
    await _audit(db, actor, "admin.user_disabled", user, context)
    return user


async def enable_user(
    db: AsyncSession, actor: Actor, user_id: uuid.UUID, context: RequestContext
) -> User:
    user = await _user(db, user_id)
    if user.status == UserStatus.disabled:
        user.status = (
            UserStatus.pending
            if user.role in CLINICIAN_ROLES and user.approved_at is None
            else UserStatus.active
        )
    await _audit(db, actor, "admin.user_enabled", user, context)
    return user


async def approve_clinician(
    db: AsyncSession, actor: Actor, user_id: uuid.UUID, context: RequestContext
) -> User:
    user = await _user(db, user_id)
    if user.role not in CLINICIAN_ROLES:
        raise Conflict("Only doctor and nurse accounts need approval.", code="not_a_clinician")
    if user.status == UserStatus.disabled:
        raise Conflict("Enable the account before approving it.", code="user_disabled")
    user.approved_at = user.approved_at or datetime.now(UTC)
    user.status = UserStatus.active
    await _audit(db, actor, "admin.clinician_approved", user, context)
    return user


async def _audit(
    db: AsyncSession, actor: Actor, action: str, user: User, context: RequestContext
) -> None:
    await db.flush()
    await record(
        db,
        action=action,
        actor_id=actor.id,
        actor_role=actor.role,
        resource_type="user",
        resource_id=user.id,
        context=context,
    )
