"""Where a request came from, for the audit trail and throttling; and the scope of a service
call (``CallScope``): what it needs besides its session and its caller."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.config import Settings
from carebridge.platform import patient_keys
from carebridge.platform.crypto import KeyClass, Keyring, owners_of


@dataclass(frozen=True)
class RequestContext:
    """Filled by the HTTP layer; empty (``SYSTEM``) for jobs and the CLI."""

    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None


SYSTEM = RequestContext()


@dataclass(frozen=True)
class CallScope:
    """What a service call needs besides its session and its caller: the settings, the keyring
    that seals and opens health data, and where the call came from (for the audit trail).

    One per request (``platform.deps.Scope``); jobs, the CLI, demo seeding and tests make one
    with :meth:`system`, whose origin is ``SYSTEM``. A service function takes
    ``(db, scope, actor, ...)``.
    """

    settings: Settings
    keyring: Keyring
    origin: RequestContext = SYSTEM

    def __post_init__(self) -> None:
        # A view of its own: the data keys this call's transaction makes stay with it until
        # that transaction commits (platform/patient_keys.py).
        object.__setattr__(self, "keyring", self.keyring.scoped())

    async def unlock(
        self,
        db: AsyncSession,
        *patient_ids: uuid.UUID | None,
        classes: Collection[KeyClass] = patient_keys.EVERY_CLASS,
    ) -> None:
        """Load the data keys of these patients (None ignored) before sealing or opening their
        data: no round trip when they are cached. Call it where a service's work starts."""
        await patient_keys.unlock(db, self.keyring, patient_ids, classes)

    async def unlock_sealed(self, db: AsyncSession, *values: bytes | None) -> None:
        """Load the data keys that these sealed values name (their ``cb2`` header) before
        opening them: for rows that do not say their patient (a page of messages)."""
        await patient_keys.unlock(db, self.keyring, owners_of(values))

    @classmethod
    def system(cls, settings: Settings, keyring: Keyring | None = None) -> CallScope:
        """A scope for work no request started: the keyring of ``settings`` unless given."""
        return cls(settings, keyring or Keyring.from_settings(settings))


async def get_request_context(request: Request) -> RequestContext:
    return RequestContext(
        ip=request.client.host if request.client else None,
        user_agent=(request.headers.get("user-agent") or None),
        request_id=request.scope.get("state", {}).get("request_id"),
    )


Context = Annotated[RequestContext, Depends(get_request_context)]
