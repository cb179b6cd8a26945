"""Reading the audit trail (administrators): search by actor, action, object and time, newest
first, keyset-paged. Every search is itself recorded (``audit.viewed``, with the filters), so who
looked at the trail, and for what, is on the trail too.

Writing stays in ``compliance/service.py``; this module reads, and asks accounts who an email or
a user id is.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, false, select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.accounts.admin import emails_of, user_id_by_email
from carebridge.compliance.models import AuditEvent
from carebridge.compliance.schemas import AuditEventOut, AuditSearch
from carebridge.compliance.service import record
from carebridge.platform.context import RequestContext
from carebridge.platform.pagination import Page, keyset_page


@dataclass(frozen=True)
class _Actor:
    """The actor filter, resolved: the user id, or none when no account has that email."""

    user_id: uuid.UUID | None


async def _resolve_actor(db: AsyncSession, given: str) -> _Actor:
    try:
        return _Actor(uuid.UUID(given))
    except ValueError:
        return _Actor(await user_id_by_email(db, given))


def _conditions(search: AuditSearch, actor: _Actor | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if actor is not None:
        found = actor.user_id is not None
        conditions.append(AuditEvent.actor_id == actor.user_id if found else false())
    if search.action:
        conditions.append(AuditEvent.action.startswith(search.action, autoescape=True))
    if search.resource_type:
        conditions.append(AuditEvent.resource_type == search.resource_type)
    if search.resource_id:
        conditions.append(AuditEvent.resource_id == search.resource_id)
    if search.since is not None:
        conditions.append(AuditEvent.at >= search.since)
    if search.until is not None:
        conditions.append(AuditEvent.at <= search.until)
    return conditions


async def search_trail(
    db: AsyncSession,
    actor: Actor,
    search: AuditSearch,
    *,
    cursor: str | None,
    limit: int,
    context: RequestContext,
) -> Page[AuditEventOut]:
    """The events matching ``search``, newest first. Only administrators may call it (the
    routes say so); the search is recorded after it ran, so it does not list itself."""
    wanted = await _resolve_actor(db, search.actor) if search.actor else None
    statement = select(AuditEvent).where(*_conditions(search, wanted))
    page = await keyset_page(
        db, statement, AuditEvent, cursor=cursor, limit=limit, time_column="at"
    )
    emails = await emails_of(db, {e.actor_id for e in page.items if e.actor_id is not None})
    items = [
        AuditEventOut.model_validate(
            {
                **_columns(event),
                "actor_email": emails.get(event.actor_id) if event.actor_id else None,
            }
        )
        for event in page.items
    ]
    await record(
        db,
        action="audit.viewed",
        actor_id=actor.id,
        actor_role=actor.role,
        resource_type="audit_trail",
        context=context,
        filters=_recorded_filters(search, wanted),
        next_page=cursor is not None,
        shown=len(items),
    )
    return Page(items=items, next_cursor=page.next_cursor)


def _columns(event: AuditEvent) -> dict[str, Any]:
    return {column.key: getattr(event, column.key) for column in AuditEvent.__table__.columns}


def _recorded_filters(search: AuditSearch, actor: _Actor | None) -> dict[str, str]:
    """The filters, with the actor as a user id: the trail holds ids, not email addresses."""
    filters = search.filters()
    if actor is not None:
        filters["actor"] = str(actor.user_id) if actor.user_id else "no such account"
    return filters


async def accesses_to(
    db: AsyncSession,
    resource_type: str,
    resource_id: str,
    *,
    exclude_actor: uuid.UUID | None,
    cursor: str | None,
    limit: int,
) -> Page[AuditEvent]:
    """The events about one object by anyone but ``exclude_actor``, newest first: what a
    patient sees of who read their record. Not itself recorded (it is the owner's view)."""
    statement = select(AuditEvent).where(
        AuditEvent.resource_type == resource_type, AuditEvent.resource_id == resource_id
    )
    if exclude_actor is not None:
        statement = statement.where(AuditEvent.actor_id.is_distinct_from(exclude_actor))
    return await keyset_page(
        db, statement, AuditEvent, cursor=cursor, limit=limit, time_column="at"
    )
