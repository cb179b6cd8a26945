"""Request-scoped dependencies shared by every domain's routes.

Dependencies are coroutines on purpose: FastAPI runs a plain ``def`` dependency in a worker
thread, a thread hop on every request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.platform.context import CallScope, Context
from carebridge.platform.runtime import Runtime


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    """One session per request: commits when the route returns, rolls back if it raises.
    After-commit actions run once the commit succeeded, before the response is sent."""
    async with runtime.database.transaction() as session:
        yield session


# scope="function": the commit happens when the route function returns, before the response is
# sent, so a failed commit answers an error instead of a success that was not saved.
Session = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_call_scope(runtime: RuntimeDep, context: Context) -> CallScope:
    """The request's scope: the process's settings and keyring, and where the request came
    from."""
    return CallScope(runtime.settings, runtime.keyring, context)


Scope = Annotated[CallScope, Depends(get_call_scope)]
