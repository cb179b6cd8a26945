"""Compliance writes what accounts audits (``accounts/hooks.py``) to the audit trail, in the
transaction of the change."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.hooks import AUDITED, Audited
from carebridge.compliance.service import record


@AUDITED.subscribe
async def record_accounts_event(db: AsyncSession, audited: Audited) -> None:
    await record(
        db,
        action=audited.action,
        outcome=audited.outcome,
        actor_id=audited.actor_id,
        actor_role=audited.actor_role,
        resource_type=audited.resource_type,
        resource_id=audited.resource_id,
        context=audited.context,
        **audited.details,
    )
