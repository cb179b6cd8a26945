"""The moves people make: confirm, start, complete, no-show, cancel and reschedule. Who may make
which move from which status is declared in ``policy.MOVES``; this is the one place a person's
move changes an appointment."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import Role
from carebridge.config import Settings
from carebridge.platform.context import SYSTEM, RequestContext
from carebridge.platform.crypto import Keyring
from carebridge.platform.errors import Conflict, Forbidden, Invalid
from carebridge.scheduling.models import Appointment, AppointmentStatus, AppointmentType
from carebridge.scheduling.moves import expire_holds, stamp
from carebridge.scheduling.notices import WORDS, audit, plan_reminders, tell
from carebridge.scheduling.policy import MOVES, Move
from carebridge.scheduling.schemas import AppointmentOut
from carebridge.scheduling.service import check_slot, flush_booking, get_appointment, read


def check_move(appointment: Appointment, move: Move, actor: Actor | None) -> None:
    """Raises unless ``actor`` (None: the system) may make ``move`` now."""
    if actor is not None and actor.role not in move.roles:
        raise Forbidden(f"Only the {_who(move)} can do that.", code="not_your_move")
    if AppointmentStatus(appointment.status) not in move.sources:
        raise Conflict(
            f"The appointment is {appointment.status.replace('_', ' ')}: it cannot be "
            f"{move.name.replace('_', ' ')}{'d' if move.name.endswith('e') else 'ed'} now.",
            code="invalid_transition",
            current_status=appointment.status,
        )


def _who(move: Move) -> str:
    return " or ".join(sorted(role.value for role in move.roles)) or "system"


def _before_cutoff(settings: Settings, appointment: Appointment) -> bool:
    cutoff = appointment.starts_at - timedelta(hours=settings.appointment_change_cutoff_hours)
    return datetime.now(UTC) < cutoff


async def act(
    db: AsyncSession,
    settings: Settings,
    keyring: Keyring,
    actor: Actor,
    appointment_id: uuid.UUID,
    move_name: str,
    *,
    reason: str | None = None,
    context: RequestContext = SYSTEM,
) -> AppointmentOut:
    """Confirm, start, complete, mark a no-show or cancel: the one place statuses change."""
    from carebridge.payments import service as payments

    move = MOVES[move_name]
    appointment = await get_appointment(db, actor, appointment_id, lock=True)
    check_move(appointment, move, actor)
    now = datetime.now(UTC)
    refund = False
    if move_name == "cancel":
        refund = await _check_cancel(settings, actor, appointment, reason)
    if move_name == "no_show" and now < appointment.starts_at:
        raise Conflict("A no-show can be marked once the appointment has begun.", code="too_early")
    assert move.target is not None
    appointment.status = str(move.target)
    stamp(appointment, move_name, actor.id, reason, now)
    if move_name == "cancel":
        await payments.on_cancelled(db, settings, appointment, refund=refund)
    await audit(db, actor, appointment, f"appointment.{move_name}", context)
    other = appointment.doctor_id if actor.id == appointment.patient_id else appointment.patient_id
    await tell(db, appointment, other, *WORDS[move_name])
    if actor.role == Role.admin and other != appointment.doctor_id:
        await tell(db, appointment, appointment.doctor_id, *WORDS[move_name])
    return await read(db, keyring, actor, appointment.id, context)


async def _check_cancel(
    settings: Settings, actor: Actor, appointment: Appointment, reason: str | None
) -> bool:
    """Whether a payment is refunded; raises when this caller may not cancel now."""
    if actor.role == Role.patient:
        unpaid = appointment.status == AppointmentStatus.pending_payment
        if not unpaid and not _before_cutoff(settings, appointment):
            raise Conflict(
                f"Appointments can be cancelled online up to "
                f"{settings.appointment_change_cutoff_hours} hours before; please call the clinic.",
                code="too_late",
            )
        return True
    if not (reason and reason.strip()):
        raise Invalid("Give the patient a reason for the cancellation.", code="reason_required")
    return True


async def reschedule(
    db: AsyncSession,
    settings: Settings,
    keyring: Keyring,
    actor: Actor,
    appointment_id: uuid.UUID,
    starts_at: datetime,
    context: RequestContext = SYSTEM,
) -> AppointmentOut:
    """Move to another open slot of the same doctor and type, up to the cutoff."""
    appointment = await get_appointment(db, actor, appointment_id, lock=True)
    check_move(appointment, MOVES["reschedule"], actor)
    if not _before_cutoff(settings, appointment):
        raise Conflict(
            f"Appointments can be moved online up to {settings.appointment_change_cutoff_hours} "
            "hours before; please call the clinic.",
            code="too_late",
        )
    start, end, blocked, _zone = await check_slot(
        db,
        appointment.doctor_id,
        AppointmentType(appointment.type),
        starts_at,
        ignoring=appointment.id,
    )
    # A lapsed hold holds no time (the check above passed it by), but the exclusion constraint
    # still sees it until it is released: as booking does, release first.
    await expire_holds(db, settings, doctor_id=appointment.doctor_id)
    appointment.starts_at, appointment.ends_at = start, end
    appointment.blocked_until = blocked
    await flush_booking(db)
    await plan_reminders(db, settings, appointment)
    await audit(db, actor, appointment, "appointment.reschedule", context)
    await tell(db, appointment, appointment.doctor_id, *WORDS["reschedule"])
    return await read(db, keyring, actor, appointment.id, context)
