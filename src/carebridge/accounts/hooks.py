"""What accounts tells the domains above it, inside its own transaction.

Accounts is the lowest domain: every route's caller comes from it, so it imports no other
domain. What it writes to the audit trail goes through :data:`AUDITED` (:func:`record`), which
compliance subscribes to (``compliance/subscriptions.py``); the messages it sends its users go
through :data:`MESSAGE` (:func:`send`), which notifications subscribes to
(``notifications/subscriptions.py``) and queues like any other notification. Both happen in the
transaction of the change: the row is written, and the message sent, if and only if it commits.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.platform.context import SYSTEM, RequestContext
from carebridge.platform.hooks import Hook

# The kinds of message accounts sends; notifications registers their channels and templates.
ACCOUNT_SECURITY = "account_security"
VERIFY_EMAIL = "verify_email"
RESET_PASSWORD = "reset_password"  # noqa: S105 (a kind of message, not a password)


@dataclass(frozen=True)
class Message:
    """A message to one user about their account, sent ahead of everything else (urgent)."""

    user_id: uuid.UUID
    kind: str
    title: str
    body: str
    data: dict[str, Any] | None = None
    link: str | None = None


MESSAGE: Hook[Message] = Hook("accounts.message")


async def send(db: AsyncSession, message: Message) -> None:
    await MESSAGE.fire(db, message)


@dataclass(frozen=True)
class Audited:
    """One row of the audit trail: who did what to which object, from where, and how it ended.
    ``details`` hold ids, counts and reasons only, never PHI or secrets."""

    action: str
    outcome: str
    actor_id: uuid.UUID | None
    actor_role: str | None
    resource_type: str | None
    resource_id: uuid.UUID | str | None
    context: RequestContext
    details: dict[str, Any]


AUDITED: Hook[Audited] = Hook("accounts.audited")


async def record(
    db: AsyncSession,
    *,
    action: str,
    outcome: str = "success",
    actor_id: uuid.UUID | None = None,
    actor_role: str | None = None,
    resource_type: str | None = None,
    resource_id: uuid.UUID | str | None = None,
    context: RequestContext = SYSTEM,
    **details: Any,
) -> None:
    """Write to the audit trail in this transaction, as ``compliance.service.record`` does for
    the domains above compliance."""
    audited = Audited(
        action, outcome, actor_id, actor_role, resource_type, resource_id, context, details
    )
    await AUDITED.fire(db, audited)


@dataclass(frozen=True)
class SignedUp:
    """An account was just created, with the documents its person accepted on the form
    (``(kind, version)`` pairs): compliance records them and refuses a sign-up that leaves out
    a required one (``compliance/subscriptions.py``)."""

    user_id: uuid.UUID
    role: str
    accepted: tuple[tuple[str, int], ...]
    context: RequestContext


SIGNED_UP: Hook[SignedUp] = Hook("accounts.signed_up")
