"""Administrators' view of the security alerts: list them (by rule, open or acknowledged) and
acknowledge one. The alerts are raised by ``compliance/detection.py``."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.compliance.alert_models import SecurityAlert
from carebridge.compliance.alert_schemas import AlertSearch, SecurityAlertOut
from carebridge.compliance.service import record
from carebridge.compliance.trail import with_actor_emails
from carebridge.platform.context import RequestContext
from carebridge.platform.errors import NotFound
from carebridge.platform.pagination import Page, keyset_page


async def list_alerts(
    db: AsyncSession, search: AlertSearch, *, cursor: str | None, limit: int
) -> Page[SecurityAlertOut]:
    """The alerts, newest first (administrators: the routes say so)."""
    statement = select(SecurityAlert)
    if search.rule is not None:
        statement = statement.where(SecurityAlert.rule == search.rule)
    if search.state == "open":
        statement = statement.where(SecurityAlert.acknowledged_at.is_(None))
    elif search.state == "acknowledged":
        statement = statement.where(SecurityAlert.acknowledged_at.is_not(None))
    page = await keyset_page(
        db, statement, SecurityAlert, cursor=cursor, limit=limit, time_column="raised_at"
    )
    return Page(
        items=await with_actor_emails(db, page.items, SecurityAlertOut),
        next_cursor=page.next_cursor,
    )


async def acknowledge(
    db: AsyncSession, actor: Actor, alert_id: uuid.UUID, context: RequestContext
) -> SecurityAlertOut:
    """An administrator has looked at the alert; acknowledging twice keeps the first."""
    row = await db.scalar(
        select(SecurityAlert).where(SecurityAlert.id == alert_id).with_for_update()
    )
    if row is None:
        raise NotFound("No such security alert.")
    if row.acknowledged_at is None:
        row.acknowledged_at = datetime.now(UTC)
        row.acknowledged_by = actor.id
        await db.flush()
        await record(
            db,
            action="security.alert_acknowledged",
            actor_id=actor.id,
            actor_role=actor.role,
            resource_type="security_alert",
            resource_id=row.id,
            context=context,
            rule=row.rule,
        )
    await db.refresh(row)
    return (await with_actor_emails(db, [row], SecurityAlertOut))[0]
