"""The system's own moves of an appointment (payment arrived, payment failed, an unpaid hold
lapsed) and the timestamps every move stamps. A move the appointment's status no longer allows
(a late or repeated event) changes nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.config import Settings
from carebridge.platform.context import SYSTEM
from carebridge.scheduling.hooks import CANCELLED, Cancellation
from carebridge.scheduling.models import Appointment, AppointmentStatus
from carebridge.scheduling.notices import announce, audit
from carebridge.scheduling.policy import MOVES
from carebridge.scheduling.queries import lapsed_hold


def stamp(
    appointment: Appointment,
    move: str,
    actor_id: uuid.UUID | None,
    reason: str | None,
    now: datetime,
) -> None:
    if move in ("confirm", "paid"):
        appointment.confirmed_at = now
        appointment.hold_expires_at = None
    elif move == "start":
        appointment.started_at = now
    elif move == "complete":
        appointment.completed_at = now
    elif move in ("cancel", "release"):
        appointment.cancelled_at = now
        appointment.cancelled_by = actor_id
        appointment.cancel_reason = reason


async def system_move(
    db: AsyncSession, appointment_id: uuid.UUID, move_name: str, reason: str | None
) -> Appointment | None:
    """Make a system move if the appointment is still where it allows; None otherwise (a late
    or repeated event changes nothing)."""
    move = MOVES[move_name]
    appointment = await db.scalar(
        select(Appointment).where(Appointment.id == appointment_id).with_for_update()
    )
    if appointment is None or AppointmentStatus(appointment.status) not in move.sources:
        return None
    assert move.target is not None
    appointment.status = str(move.target)
    stamp(appointment, move_name, None, reason, datetime.now(UTC))
    await audit(db, None, appointment, f"appointment.{move_name}", SYSTEM)
    return appointment


async def mark_paid(db: AsyncSession, appointment_id: uuid.UUID) -> Appointment | None:
    """Payment arrived: a held booking becomes scheduled. None when it is no longer held
    (already scheduled, or released: the caller refunds)."""
    appointment = await system_move(db, appointment_id, "paid", None)
    if appointment is not None:
        await announce(db, appointment, "paid", None)
    return appointment


async def release_unpaid(
    db: AsyncSession, appointment_id: uuid.UUID, reason: str
) -> Appointment | None:
    """Give a held slot back (payment failed or the hold lapsed) and tell the patient."""
    appointment = await system_move(db, appointment_id, "release", reason)
    if appointment is not None:
        await announce(db, appointment, "release", None)
    return appointment


async def expire_holds(
    db: AsyncSession, settings: Settings, *, doctor_id: uuid.UUID | None = None
) -> int:
    """Release every unpaid hold past its time (of one doctor, or all). Run by the periodic job
    and before each booking, so a lapsed hold never blocks a slot."""
    statement = select(Appointment.id).where(lapsed_hold(datetime.now(UTC)))
    if doctor_id is not None:
        statement = statement.where(Appointment.doctor_id == doctor_id)
    released = 0
    for appointment_id in list(await db.scalars(statement.limit(500))):
        appointment = await release_unpaid(db, appointment_id, "not paid in time")
        if appointment is not None:
            await CANCELLED.fire(db, Cancellation(appointment, settings, refund=False))
            released += 1
    if released:
        await db.flush()  # before the caller writes over the time the holds gave back
    return released
