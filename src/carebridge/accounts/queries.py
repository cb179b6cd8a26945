"""Hand-written SQL of accounts (see ``platform.statements``).

**The session check** runs on every authenticated request, on the session's own asyncpg
connection: one statement instead of an ORM query (docs/performance.md).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import NamedTuple

from carebridge.accounts.policy import live_session_sql
from carebridge.platform.statements import Statement


class SessionOfToken(NamedTuple):
    session_id: uuid.UUID
    user_id: uuid.UUID
    now: datetime


LIVE_SESSION = Statement(
    f"""
SELECT u.role, u.status, u.mfa_enabled_at IS NOT NULL AS mfa_enrolled
FROM auth_sessions s JOIN users u ON u.id = s.user_id
WHERE s.id = :session_id AND u.id = :user_id AND {live_session_sql("s", "u", ":now")}
""",  # noqa: S608 - built from constants
    SessionOfToken,
)
"""Decides whether an access token's session still signs its user in, and reads what the caller
is: one row (role, status, whether two-step sign-in is enrolled) when the session is the user's
and live at ``now`` (``accounts.policy.live_session``), none otherwise."""
