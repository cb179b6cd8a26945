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
from typing import Literal

from sqlalchemy import ColumnElement, DateTime, and_, literal_column
from sqlalchemy.orm import aliased
from sqlalchemy.orm.util import AliasedClass

from carebridge.accounts.models import STAFF_ROLES, AuthSession, User, UserStatus
from carebridge.config import Settings
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


# -- second factors -------------------------------------------------------------------------------
#
# A user's second factors are an authenticator app (TOTP) and passkeys. Having either turns
# two-step sign-in on: the password alone no longer signs in. Where the clinic requires staff to
# have one (``CAREBRIDGE_REQUIRE_MFA_FOR_STAFF``), ``CAREBRIDGE_STAFF_SECOND_FACTOR=passkey`` says
# only a passkey counts. The session check reads both flags with every request
# (``queries.LIVE_SESSION``, ``browser.cookie_actor``), from these expressions.

SecondStep = Literal["totp", "recovery_code", "passkey"]


def totp_enrolled(user: type[User] | AliasedClass[User] = User) -> ColumnElement[bool]:
    return user.mfa_enabled_at.is_not(None)


def passkey_enrolled(user: type[User] | AliasedClass[User] = User) -> ColumnElement[bool]:
    return user.passkey_count > 0


def _passkey_only(settings: Settings, role: str) -> bool:
    return settings.staff_second_factor == "passkey" and role in STAFF_ROLES


def enrolment_missing(settings: Settings, role: str, *, totp: bool, passkey: bool) -> bool:
    """Whether a user of ``role`` must still enrol a second factor before acting as staff."""
    if not settings.staff_need_mfa or role not in STAFF_ROLES:
        return False
    return not passkey if _passkey_only(settings, role) else not (totp or passkey)


def second_steps(
    settings: Settings, role: str, *, totp: bool, passkey: bool
) -> tuple[SecondStep, ...]:
    """How a user with these factors may take the second step of sign-in (none: the password
    signs in alone). Recovery codes stand in for a lost device whatever the policy."""
    if not (totp or passkey):
        return ()
    steps: list[SecondStep] = []
    if passkey:
        steps.append("passkey")
    if totp and not _passkey_only(settings, role):
        steps.append("totp")
    steps.append("recovery_code")
    return tuple(steps)


def enrolment_advice(settings: Settings, role: str) -> str:
    """What a member of staff is told to enrol."""
    if _passkey_only(settings, role):
        return "Staff accounts need a passkey: add one on the account page."
    return (
        "Staff accounts need two-step sign-in: add a passkey or an authenticator app on the "
        "account page."
    )
