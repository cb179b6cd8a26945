"""Browser sessions: the ``auth_sessions`` row a session cookie names, found while it is live
(``policy.live_session``) and kept alive while it is used. The cookie itself, CSRF and the page
callers are the web layer's (``web/session.py``)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import AuthSession, Role, User, UserStatus
from carebridge.accounts.policy import live_session, passkey_enrolled, totp_enrolled
from carebridge.config import Settings

# A session's idle end moves at most this often: not a write on every page.
_TOUCH_EVERY = timedelta(minutes=1)


def cookie_digest(token: str) -> bytes:
    """What ``auth_sessions.cookie_hash`` stores of a session cookie."""
    return hashlib.sha256(token.encode()).digest()


async def cookie_actor(db: AsyncSession, settings: Settings, token: str) -> Actor | None:
    """The caller whose live session the cookie ``token`` names, its idle end moved on; None
    when the session is unknown or no longer live."""
    now = datetime.now(UTC)
    row = (
        await db.execute(
            select(
                AuthSession,
                User.role,
                User.status,
                totp_enrolled().label("totp"),
                passkey_enrolled().label("passkey"),
            )
            .join(User, User.id == AuthSession.user_id)
            .where(AuthSession.cookie_hash == cookie_digest(token), live_session(now))
        )
    ).one_or_none()
    if row is None:
        return None
    session = row[0]
    if now - session.last_used_at > _TOUCH_EVERY:
        idle = timedelta(minutes=settings.web_idle_minutes)
        await db.execute(
            update(AuthSession)
            .where(AuthSession.id == session.id)
            .values(last_used_at=now, idle_expires_at=min(now + idle, session.absolute_expires_at))
        )
    return Actor(
        id=session.user_id,
        role=Role(row.role),
        status=UserStatus(row.status),
        session_id=session.id,
        totp_enrolled=row.totp,
        passkey_enrolled=row.passkey,
    )
