"""The visit's conversation (messaging, kind ``visit``) follows its nurse: whoever accepts or
claims the visit joins the conversation with the patient (opened then if needed); a nurse who
declines it or is replaced leaves it; the visit's end (signed off, cancelled, no show) closes it.
Called by ``service.apply_move`` for every move, in its transaction."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.messaging import visit_threads
from carebridge.platform.context import CallScope
from carebridge.visits.models import Visit, VisitStatus
from carebridge.visits.states import FINAL, Move


async def follow_move(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    visit: Visit,
    move: Move,
    previous_nurse_id: uuid.UUID | None,
) -> None:
    """Bring the conversation in line with ``visit`` after ``move``."""
    if previous_nurse_id is not None and previous_nurse_id != visit.nurse_id:
        await visit_threads.leave_visit_thread(
            db, scope, actor, visit_id=visit.id, nurse_id=previous_nurse_id
        )
    if move.target == VisitStatus.accepted and visit.nurse_id is not None:
        await visit_threads.join_visit_thread(
            db,
            scope,
            actor,
            visit_id=visit.id,
            patient_id=visit.patient_id,
            nurse_id=visit.nurse_id,
        )
    if move.target in FINAL:
        await visit_threads.close_visit_thread(db, scope, actor, visit_id=visit.id)


async def conversations_of(
    db: AsyncSession, actor: Actor, visit_ids: list[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    """The conversations of these visits that ``actor`` is in (their patient, their nurse)."""
    return await visit_threads.visit_threads(db, actor.id, visit_ids)
