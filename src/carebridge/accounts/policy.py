"""When a session still signs its user in: the *live session* rule, written once.

A session is live at ``now`` while it is not revoked, neither its idle nor its absolute end has
passed, and its user is not disabled. Every way in checks it on every use: an access token
(``actors.authenticate``, through :data:`~carebridge.accounts.queries.LIVE_SESSION`), a browser's
cookie (``browser.cookie_actor``), a real-time ticket and the sockets it opened
(``realtime``). So revoking a session or disabling a user takes effect at once, everywhere.

The rule is one SQLAlchemy condition, :func:`live_session`; hand-written statements include
:func:`live_session_sql`, the same condition rendered over their aliases.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, DateTime, and_, literal_column
from sqlalchemy.orm import aliased
from sqlalchemy.orm.util import AliasedClass

from carebridge.accounts.models import AuthSession, User, UserStatus
from carebridge.platform.statements import condition_sql


def live_session(
    now: datetime | ColumnElement[datetime],
    session: type[AuthSession] | AliasedClass[AuthSession] = AuthSession,
    user: type[User] | AliasedClass[User] = User,
) -> ColumnElement[bool]:
    """A live session at ``now``, over a session and its user (the query joins them)."""
    return and_(
        session.revoked_at.is_(None),
        session.idle_expires_at > now,
        session.absolute_expires_at > now,
        user.status != UserStatus.disabled,
    )


def live_session_sql(session: str, user: str, now: str) -> str:
    """:func:`live_session` as SQL text, for a statement naming ``auth_sessions`` as
    ``session`` and ``users`` as ``user``; ``now`` is the statement's text for the time (a
    placeholder such as ``:now``)."""
    at = literal_column(now, DateTime(timezone=True))
    return condition_sql(
        live_session(at, aliased(AuthSession, name=session), aliased(User, name=user))
    )
