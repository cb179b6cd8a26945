"""Reading the audit trail (administrators): search by actor, subject patient, action, object
and time, newest first, keyset-paged, or export the same as CSV. Every search is itself recorded
(``audit.viewed``, with the filters), and every export (``audit.exported``, with the filters and
the count), so who looked at the trail, and for what, is on the trail too.

Writing stays in ``compliance/service.py``; this module reads, and asks accounts who an email or
a user id is.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar

from pydantic import BaseModel
from sqlalchemy import ColumnElement, false, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from carebridge.accounts.actors import Actor
from carebridge.accounts.admin import emails_of, user_id_by_email
from carebridge.compliance.models import AuditEvent
from carebridge.compliance.schemas import AuditEventOut, AuditSearch
from carebridge.compliance.service import record
from carebridge.platform.context import RequestContext
from carebridge.platform.pagination import Page, keyset_page


@dataclass(frozen=True)
class _Person:
    """A person filter (the actor, the subject), resolved: the user id, or none when no account
    has that email."""

    user_id: uuid.UUID | None

    def matches(self, column: InstrumentedAttribute[uuid.UUID | None]) -> ColumnElement[bool]:
        return column == self.user_id if self.user_id is not None else false()


async def _resolve(db: AsyncSession, given: str | None) -> _Person | None:
    if not given:
        return None
    try:
        return _Person(uuid.UUID(given))
    except ValueError:
        return _Person(await user_id_by_email(db, given))


@dataclass(frozen=True)
class Resolved:
    """A search with its people resolved to ids: what the trail is filtered and recorded by."""

    search: AuditSearch
    actor: _Person | None
    subject: _Person | None

    def conditions(self) -> list[ColumnElement[bool]]:
        return _conditions(self.search, self.actor, self.subject)

    def recorded(self) -> dict[str, str]:
        """The filters, with people as user ids: the trail holds ids, not email addresses."""
        filters = self.search.filters()
        for key, person in (("actor", self.actor), ("subject", self.subject)):
            if person is not None:
                filters[key] = str(person.user_id) if person.user_id else "no such account"
        return filters


async def resolve(db: AsyncSession, search: AuditSearch) -> Resolved:
    return Resolved(search, await _resolve(db, search.actor), await _resolve(db, search.subject))


def _conditions(
    search: AuditSearch, actor: _Person | None, subject: _Person | None
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if actor is not None:
        conditions.append(actor.matches(AuditEvent.actor_id))
    if subject is not None:
        conditions.append(subject.matches(AuditEvent.subject_id))
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
    wanted = await resolve(db, search)
    statement = select(AuditEvent).where(*wanted.conditions())
    page = await keyset_page(
        db, statement, AuditEvent, cursor=cursor, limit=limit, time_column="at"
    )
    items = await with_actor_emails(db, page.items, AuditEventOut)
    await record(
        db,
        action="audit.viewed",
        actor_id=actor.id,
        actor_role=actor.role,
        resource_type="audit_trail",
        context=context,
        filters=wanted.recorded(),
        next_page=cursor is not None,
        shown=len(items),
    )
    return Page(items=items, next_cursor=page.next_cursor)


class _WithActor(Protocol):
    """A row that names its actor (an audit event, a security alert)."""

    __table__: ClassVar[Any]
    actor_id: uuid.UUID | None


Out = TypeVar("Out", bound=BaseModel)


async def with_actor_emails(
    db: AsyncSession, rows: Sequence[_WithActor], out: type[Out]
) -> list[Out]:
    """``rows`` as ``out``: their columns and the actor's email, while the account exists."""
    emails = await emails_of(db, {row.actor_id for row in rows if row.actor_id is not None})
    return [
        out.model_validate(
            {
                **{column.key: getattr(row, column.key) for column in row.__table__.c},
                "actor_email": emails.get(row.actor_id) if row.actor_id else None,
            }
        )
        for row in rows
    ]
