"""Hand-written SQL of accounts (see ``platform.statements``).

**The session check** runs on every authenticated request, on the session's own asyncpg
connection: one statement instead of an ORM query (docs/performance.md).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import NamedTuple

from sqlalchemy.orm import aliased

from carebridge.accounts.models import User
from carebridge.accounts.policy import live_session_sql, passkey_enrolled, totp_enrolled
from carebridge.platform.statements import Statement, condition_sql


class SessionOfToken(NamedTuple):
    session_id: uuid.UUID
    user_id: uuid.UUID
    now: datetime


_USER = aliased(User, name="u")

LIVE_SESSION = Statement(
    f"""
SELECT u.role, u.status,
    {condition_sql(totp_enrolled(_USER))} AS totp_enrolled,
    {condition_sql(passkey_enrolled(_USER))} AS passkey_enrolled
FROM auth_sessions s JOIN users u ON u.id = s.user_id
WHERE s.id = :session_id AND u.id = :user_id AND {live_session_sql("s", "u", ":now")}
""",  # noqa: S608 - built from constants
    SessionOfToken,
)
"""Decides whether an access token's session still signs its user in, and reads what the caller
is: one row (role, status, whether an authenticator app and a passkey are enrolled:
``policy.totp_enrolled``, ``policy.passkey_enrolled``) when the session is the user's and live at
``now`` (``accounts.policy.live_session``), none otherwise."""
