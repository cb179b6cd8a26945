"""Where a request came from, for the audit trail and throttling; and the scope of a service
call (``CallScope``): what it needs besides its session and its caller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from carebridge.config import Settings
from carebridge.platform.crypto import Keyring


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
