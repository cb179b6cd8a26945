"""How long accounts keeps what signs people in once it no longer does (``platform/retention.py``):
ended sessions with their refresh tokens, and used or expired one-time links."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.models import AuthSession, OneTimeToken
from carebridge.platform.context import CallScope
from carebridge.platform.retention import DataClass, purge_rows


async def purge_sessions(
    db: AsyncSession, scope: CallScope, cutoff: datetime, dry_run: bool
) -> int:
    """Sessions that ended (revoked, idle or past their absolute end) before ``cutoff``; their
    refresh tokens and WebSocket tickets go with them (foreign keys cascade)."""
    ended = or_(
        AuthSession.revoked_at < cutoff,
        AuthSession.idle_expires_at < cutoff,
        AuthSession.absolute_expires_at < cutoff,
    )
    return await purge_rows(db, AuthSession.id, ended, dry_run)


async def purge_one_time_tokens(
    db: AsyncSession, scope: CallScope, cutoff: datetime, dry_run: bool
) -> int:
    """Links (email confirmation, password reset, email change) used or expired before
    ``cutoff``."""
    done = or_(OneTimeToken.expires_at < cutoff, OneTimeToken.used_at < cutoff)
    return await purge_rows(db, OneTimeToken.id, done, dry_run)


RETENTION = (
    DataClass(
        name="sessions",
        description="Signed-in devices (address, user agent) and their refresh tokens, once "
        "revoked or expired",
        where="auth_sessions, refresh_tokens, realtime_tickets",
        setting="retention_sessions_days",
        unit="days",
        legal_basis="GDPR Art. 5(1)(e) storage limitation; kept a while after their end to "
        "investigate a reported account takeover (HIPAA 45 CFR 164.308(a)(6) incident response)",
        purge=purge_sessions,
    ),
    DataClass(
        name="one_time_tokens",
        description="Email links (confirmation, password reset, email change), stored hashed, "
        "once used or expired",
        where="one_time_tokens",
        setting="retention_one_time_tokens_days",
        unit="days",
        legal_basis="GDPR Art. 5(1)(e) storage limitation: no use once used or expired",
        purge=purge_one_time_tokens,
    ),
)
