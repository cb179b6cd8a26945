"""Loading a call and its peers, for the use cases (``service``) and the reads (``views``): the
appointment a member may reach, the call locked for a change, its live peers and their names, the
audit row of a call action."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import User
from carebridge.compliance.service import record
from carebridge.platform.context import CallScope
from carebridge.platform.errors import NotFound
from carebridge.scheduling.models import Appointment
from carebridge.video import policy
from carebridge.video.models import Call, CallParticipant, ParticipantState
from carebridge.video.schemas import ParticipantOut


def not_found() -> NotFound:
    return NotFound("No such call.")


async def get_appointment(
    db: AsyncSession, user_id: uuid.UUID, appointment_id: uuid.UUID
) -> Appointment:
    """An appointment whose call ``user_id`` belongs to; 404 for anyone else."""
    found: Appointment | None = await db.scalar(
        policy.member_appointments(user_id).where(Appointment.id == appointment_id)
    )
    if found is None:
        raise not_found()
    return found


async def call_for_update(db: AsyncSession, appointment_id: uuid.UUID) -> Call:
    """The appointment's call, made on first use, locked: joins, admits and leaves of one call
    happen one after the other."""
    await db.execute(insert(Call).values(appointment_id=appointment_id).on_conflict_do_nothing())
    call: Call = (
        await db.scalars(
            select(Call)
            .where(Call.appointment_id == appointment_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).one()
    return call


async def existing_call(db: AsyncSession, appointment_id: uuid.UUID) -> Call | None:
    found: Call | None = await db.scalar(
        select(Call)
        .where(Call.appointment_id == appointment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return found


async def live_peers(db: AsyncSession, call: Call) -> list[CallParticipant]:
    rows = await db.scalars(
        select(CallParticipant)
        .where(CallParticipant.call_id == call.id, CallParticipant.state != ParticipantState.left)
        .order_by(CallParticipant.joined_at)
        .execution_options(populate_existing=True)
    )
    return list(rows)


async def peers_of(db: AsyncSession, call: Call) -> list[CallParticipant]:
    rows = await db.scalars(
        select(CallParticipant)
        .where(CallParticipant.call_id == call.id)
        .order_by(CallParticipant.joined_at)
        .execution_options(populate_existing=True)
    )
    return list(rows)


async def names_of(db: AsyncSession, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    rows = await db.execute(select(User.id, User.name).where(User.id.in_(set(user_ids))))
    return {row[0]: row[1] for row in rows}


def participant_out(participant: CallParticipant, names: dict[uuid.UUID, str]) -> ParticipantOut:
    return ParticipantOut(
        id=participant.id,
        user_id=participant.user_id,
        name=names.get(participant.user_id, ""),
        role=participant.role,
        state=participant.state,
        joined_at=participant.joined_at,
        admitted_at=participant.admitted_at,
        left_at=participant.left_at,
        left_reason=participant.left_reason,
    )


async def audit(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    action: str,
    appointment: Appointment,
    **extra: Any,
) -> None:
    details: dict[str, Any] = {key: str(value) for key, value in extra.items()}
    await record(
        db,
        action=action,
        actor_id=actor.id,
        actor_role=str(actor.role),
        resource_type="appointment",
        resource_id=appointment.id,
        subject_id=appointment.patient_id,
        context=scope.origin,
        **details,
    )
