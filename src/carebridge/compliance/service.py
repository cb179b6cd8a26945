"""Recording to the audit trail. Every domain calls :func:`record` inside its transaction.

Details must never hold PHI or secrets: ids, counts and reasons only.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.compliance.models import AuditEvent
from carebridge.platform.context import SYSTEM, RequestContext


def audit_values(
    *,
    action: str,
    outcome: str = "success",
    actor_id: uuid.UUID | None = None,
    actor_role: str | None = None,
    resource_type: str | None = None,
    resource_id: uuid.UUID | str | None = None,
    subject_id: uuid.UUID | None = None,
    context: RequestContext = SYSTEM,
    **details: Any,
) -> dict[str, Any]:
    """The values of one audit row, keyed by ``AUDIT_COLUMNS``."""
    return {
        "action": action,
        "outcome": outcome,
        "actor_id": actor_id,
        "actor_role": actor_role,
        "resource_type": resource_type,
        "resource_id": None if resource_id is None else str(resource_id),
        "subject_id": subject_id,
        "ip": context.ip,
        "user_agent": (context.user_agent or None) and context.user_agent[:400],
        "request_id": context.request_id,
        "details": details,
    }


# The columns of an audit row written by hand-written SQL (hot paths), in this order.
AUDIT_COLUMNS = tuple(audit_values(action=""))


async def record(
    db: AsyncSession,
    *,
    action: str,
    outcome: str = "success",
    actor_id: uuid.UUID | None = None,
    actor_role: str | None = None,
    resource_type: str | None = None,
    resource_id: uuid.UUID | str | None = None,
    subject_id: uuid.UUID | None = None,
    context: RequestContext = SYSTEM,
    **details: Any,
) -> AuditEvent:
    event = AuditEvent(
        **audit_values(
            action=action,
            outcome=outcome,
            actor_id=actor_id,
            actor_role=actor_role,
            resource_type=resource_type,
            resource_id=resource_id,
            subject_id=subject_id,
            context=context,
            **details,
        )
    )
    db.add(event)
    return event
