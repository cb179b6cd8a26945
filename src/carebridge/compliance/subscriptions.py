"""Compliance writes what accounts audits (``accounts/hooks.py``) to the audit trail, in the
transaction of the change, and records the consents given at sign-up (refusing a sign-up that
leaves out a required document)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.hooks import AUDITED, SIGNED_UP, Audited, SignedUp
from carebridge.accounts.models import Role
from carebridge.compliance.consent import Person, accept_at_sign_up, choices_of
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


@SIGNED_UP.subscribe
async def record_sign_up_consents(db: AsyncSession, signed_up: SignedUp) -> None:
    who = Person(signed_up.user_id, Role(signed_up.role))
    await accept_at_sign_up(db, who, choices_of(signed_up.accepted), signed_up.context)
