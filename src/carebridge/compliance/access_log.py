"""A person's access log: who else read or changed data about them, from the audit trail.

An event is about a patient when its ``subject_id`` names them (every domain sets it on the
audit rows of a patient's data). The record's rows written before ``subject_id`` existed name the
patient as their object (``patient_record``, the patient's id) and are found that way too.
Actions by the person themselves and by CareBridge's own jobs (no actor) are not accesses by
others and are left out. Reading one's own log is not itself recorded.
"""

from __future__ import annotations

import uuid

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.accounts.service import names_of
from carebridge.compliance.models import AuditEvent
from carebridge.compliance.schemas import AccessOut
from carebridge.platform.pagination import Page, keyset_page

# The object type of the record's older rows, named by the patient's id.
RECORD = "patient_record"


def _about(subject_id: uuid.UUID, resource_type: str | None) -> list[object]:
    older_record_rows = and_(
        AuditEvent.subject_id.is_(None),
        AuditEvent.resource_type == RECORD,
        AuditEvent.resource_id == str(subject_id),
    )
    conditions: list[object] = [
        or_(AuditEvent.subject_id == subject_id, older_record_rows),
        AuditEvent.actor_id.is_not(None),
        AuditEvent.actor_id != subject_id,
    ]
    if resource_type is not None:
        conditions.append(AuditEvent.resource_type == resource_type)
    return conditions


async def accesses_of(
    db: AsyncSession,
    subject_id: uuid.UUID,
    *,
    resource_type: str | None = None,
    cursor: str | None,
    limit: int,
) -> Page[AccessOut]:
    """The events about ``subject_id`` by anyone else, newest first (``resource_type``: only
    those about that kind of object)."""
    statement = select(AuditEvent).where(*_about(subject_id, resource_type))  # type: ignore[arg-type]
    page = await keyset_page(
        db, statement, AuditEvent, cursor=cursor, limit=limit, time_column="at"
    )
    names = await names_of(db, {e.actor_id for e in page.items if e.actor_id is not None})
    items = [
        AccessOut(
            at=event.at,
            actor_id=event.actor_id,
            actor_name=names.get(event.actor_id, "") if event.actor_id else "",
            actor_role=event.actor_role,
            action=event.action,
            outcome=event.outcome,
            resource_type=event.resource_type,
            section=event.details.get("section"),
            basis=event.details.get("basis"),
        )
        for event in page.items
    ]
    return Page(items=items, next_cursor=page.next_cursor)


async def my_access_log(
    db: AsyncSession, actor: Actor, *, cursor: str | None, limit: int
) -> Page[AccessOut]:
    """The signed-in person's log: accesses by others to data about them."""
    return await accesses_of(db, actor.id, cursor=cursor, limit=limit)
