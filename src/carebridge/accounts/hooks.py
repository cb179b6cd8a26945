"""What accounts tells the domains above it, inside its own transaction.

Accounts is the lowest domain: every route's caller comes from it, so it imports no other
domain. The messages it sends its users go through :data:`MESSAGE`, which notifications
subscribes to (``notifications/subscriptions.py``) and queues like any other notification, in
the same transaction: the message is sent if and only if the change commits.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

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
