"""Where a request came from, for the audit trail and throttling."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request


@dataclass(frozen=True)
class RequestContext:
    """Filled by the HTTP layer; empty (``SYSTEM``) for jobs and the CLI."""

    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None


SYSTEM = RequestContext()


async def get_request_context(request: Request) -> RequestContext:
    return RequestContext(
        ip=request.client.host if request.client else None,
        user_agent=(request.headers.get("user-agent") or None),
        request_id=request.scope.get("state", {}).get("request_id"),
    )


Context = Annotated[RequestContext, Depends(get_request_context)]
