"""The audit row of a sealed value that does not open, whichever column it is.

Every sealed column is opened by ``Keyring.open``, which raises ``Unreadable``; this observer of
answered errors records it (``sealed.unreadable``: the table, the row, the column, who asked and
from where; never the value). It writes in a transaction of its own, so the row is kept whatever
became of the request's transaction.
"""

from __future__ import annotations

from fastapi import Request

from carebridge.accounts.actors import Actor
from carebridge.compliance.service import record
from carebridge.platform.context import get_request_context
from carebridge.platform.crypto import Unreadable
from carebridge.platform.errors import CareBridgeError
from carebridge.platform.runtime import Runtime


async def record_unreadable(request: Request, error: CareBridgeError) -> None:
    if not isinstance(error, Unreadable):
        return
    runtime: Runtime = request.app.state.runtime
    actor = getattr(request.state, "actor", None)
    reader = actor if isinstance(actor, Actor) else None
    async with runtime.database.transaction() as db:
        await record(
            db,
            action="sealed.unreadable",
            outcome="failure",
            actor_id=None if reader is None else reader.id,
            actor_role=None if reader is None else reader.role,
            resource_type=error.column.table,
            resource_id=error.row_id,
            context=await get_request_context(request),
            column=error.column.name,
            reason=error.reason,
        )
