"""The moves people make: confirm, start, complete, no-show, cancel and reschedule. Who may make
which move from which status is declared in ``policy.MOVES``; this is the one place a person's
move changes an appointment."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import Role
from carebridge.config import Settings
from carebridge.platform.context import CallScope
from carebridge.platform.errors import Conflict, Forbidden, Invalid
from carebridge.platform.times import local_time
from carebridge.scheduling.hooks import CANCELLED, MOVED, Cancellation, Moved
from carebridge.scheduling.models import Appointment, AppointmentStatus, AppointmentType
from carebridge.scheduling.moves import expire_holds, stamp
from carebridge.scheduling.notices import announce, audit, plan_reminders
from carebridge.scheduling.policy import MOVES, Move, visible_appointments
from carebridge.scheduling.schemas import AppointmentOut
from carebridge.scheduling.service import check_slot, flush_booking, get_appointment, read


class Timed(Protocol):
    """What the time rules read of an appointment (a row, or the API's ``AppointmentOut``)."""

    @property
    def status(self) -> str: ...
    @property
    def starts_at(self) -> datetime: ...
    @property
    def time_zone(self) -> str: ...


@dataclass(frozen=True)
class Window:
    """When a move may be made: from ``opens`` (if set) until ``closes`` (if set, excluded)."""

    opens: datetime | None = None
    closes: datetime | None = None


def window(settings: Settings, appointment: Timed, move_name: str, role: Role) -> Window:
    """The time rule of every move, in one place: the service refuses by it and the pages offer
    by it. A consultation starts from a few minutes before its time (never a day early); a
    no-show is marked after its start plus a grace; patients cancel a booked appointment and
    move any of theirs up to the cutoff. Completing needs the consultation started (a status
    rule); the other moves have no time rule."""
    starts = appointment.starts_at
    if move_name == "start":
        return Window(opens=starts - timedelta(minutes=settings.consultation_early_start_minutes))
    if move_name == "no_show":
        return Window(opens=starts + timedelta(minutes=settings.no_show_grace_minutes))
    unpaid = appointment.status == AppointmentStatus.pending_payment
    if role == Role.patient and (
        move_name == "reschedule" or (move_name == "cancel" and not unpaid)
    ):
        return Window(closes=starts - timedelta(hours=settings.appointment_change_cutoff_hours))
    return Window()


def _allows(move: Move, role: Role, appointment: Timed) -> bool:
    return role in move.roles and AppointmentStatus(appointment.status) in move.sources


def moves_now(
    settings: Settings, actor: Actor, appointment: Timed, now: datetime
) -> dict[str, datetime | None]:
    """The moves ``actor`` may make on ``appointment``: each maps to None when it may be made
    now, or to the instant it becomes possible. Moves of another role or status, and those
    whose time has passed, are left out. What the pages offer."""
    found: dict[str, datetime | None] = {}
    for move in MOVES.values():
        if not _allows(move, actor.role, appointment):
            continue
        allowed = window(settings, appointment, move.name, actor.role)
        if allowed.closes is not None and now >= allowed.closes:
            continue
        found[move.name] = allowed.opens if allowed.opens and now < allowed.opens else None
    return found


class Held(Timed, Protocol):
    """What :func:`allowed_moves` also reads: whose booking it is, and how long it is held."""

    @property
    def patient_id(self) -> uuid.UUID: ...
    @property
    def hold_expires_at(self) -> datetime | None: ...


def allowed_moves(
    settings: Settings, actor: Actor, appointment: Held, now: datetime
) -> dict[str, datetime | None]:
    """Everything ``actor`` may do to ``appointment`` now, as :func:`moves_now` says it (None:
    now; an instant: from then), and also ``pay`` (its patient, while the booking is held for
    payment) and ``calendar`` (add it to a calendar: any appointment not cancelled). The pages
    show these actions and no others."""
    found = moves_now(settings, actor, appointment, now)
    hold = appointment.hold_expires_at
    if (
        actor.id == appointment.patient_id
        and appointment.status == AppointmentStatus.pending_payment
        and (hold is None or now < hold)
    ):
        found["pay"] = None
    if appointment.status != AppointmentStatus.cancelled:
        found["calendar"] = None
    return found


@dataclass(frozen=True)
class SessionState:
    """An appointment as the place it is held in shows it (a chat appointment's conversation),
    with the moves the reader may make on it now (:func:`moves_now`)."""

    type: str
    status: str
    starts_at: datetime
    ends_at: datetime
    moves: dict[str, datetime | None]


async def session_states(
    db: AsyncSession,
    settings: Settings,
    actor: Actor,
    appointment_ids: Sequence[uuid.UUID],
    now: datetime,
) -> dict[uuid.UUID, SessionState]:
    """The state of each of ``appointment_ids``, which the calling domain has let ``actor`` see
    (messaging: the members of their conversations), and the moves ``actor`` may make now on
    those :func:`act` lets them act on (``policy.visible_appointments``; none on the others: a
    nurse or a second doctor in the conversation)."""
    if not appointment_ids:
        return {}
    theirs = Appointment.id.in_(visible_appointments(actor).with_only_columns(Appointment.id))
    rows = await db.execute(select(Appointment, theirs).where(Appointment.id.in_(appointment_ids)))
    return {
        row.id: SessionState(
            type=row.type,
            status=row.status,
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            moves=moves_now(settings, actor, row, now) if may_act else {},
        )
        for row, may_act in rows.all()
    }


def check_move(appointment: Appointment, move: Move, actor: Actor | None) -> None:
    """Raises unless ``actor`` (None: the system) may make ``move`` from this status."""
    if actor is not None and actor.role not in move.roles:
        raise Forbidden(f"Only the {_who(move)} can do that.", code="not_your_move")
    if AppointmentStatus(appointment.status) not in move.sources:
        raise Conflict(
            f"The appointment is {appointment.status.replace('_', ' ')}: it cannot be "
            f"{move.name.replace('_', ' ')}{'d' if move.name.endswith('e') else 'ed'} now.",
            code="invalid_transition",
            current_status=appointment.status,
        )


# What is too early, and how far from the appointment's start the move opens.
_TOO_EARLY = {
    "start": ("The consultation can start from {at}", "{minutes} minutes before its time"),
    "no_show": ("A no-show can be marked from {at}", "{minutes} minutes after its start"),
}
_TOO_LATE_VERB = {"cancel": "cancelled", "reschedule": "moved"}


def check_time(
    settings: Settings, appointment: Timed, move_name: str, role: Role, now: datetime
) -> None:
    """Raises 409 unless ``move_name`` may be made now (:func:`window`): ``too_early`` with
    ``possible_from`` (ISO 8601 UTC), or ``too_late``."""
    allowed = window(settings, appointment, move_name, role)
    if allowed.opens is not None and now < allowed.opens:
        minutes = abs(int((allowed.opens - appointment.starts_at).total_seconds() // 60))
        when, offset = _TOO_EARLY[move_name]
        detail = when.format(at=local_time(allowed.opens, appointment.time_zone))
        if minutes:
            detail += ", " + offset.format(minutes=minutes)
        raise Conflict(
            detail + ".",
            code="too_early",
            possible_from=allowed.opens.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
    if allowed.closes is not None and now >= allowed.closes:
        raise Conflict(
            f"Appointments can be {_TOO_LATE_VERB[move_name]} online up to "
            f"{settings.appointment_change_cutoff_hours} hours before; please call the clinic.",
            code="too_late",
        )


def _who(move: Move) -> str:
    return " or ".join(sorted(role.value for role in move.roles)) or "system"


async def act(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    appointment_id: uuid.UUID,
    move_name: str,
    *,
    reason: str | None = None,
) -> AppointmentOut:
    """Confirm, start, complete, mark a no-show or cancel: the one place statuses change."""
    move = MOVES[move_name]
    appointment = await get_appointment(db, actor, appointment_id, lock=True)
    check_move(appointment, move, actor)
    now = datetime.now(UTC)
    settings = scope.settings
    check_time(settings, appointment, move_name, actor.role, now)
    if move_name == "cancel" and actor.role != Role.patient and not (reason and reason.strip()):
        raise Invalid("Give the patient a reason for the cancellation.", code="reason_required")
    assert move.target is not None
    appointment.status = str(move.target)
    stamp(appointment, move_name, actor.id, reason, now)
    if move_name == "cancel":  # within the rules above: refunded if paid
        await CANCELLED.fire(db, Cancellation(appointment, settings, refund=True))
    await MOVED.fire(db, Moved(appointment, move_name, actor, scope))
    await audit(db, actor, appointment, f"appointment.{move_name}", scope.origin)
    await announce(db, appointment, move_name, actor)
    return await read(db, scope, actor, appointment.id)


async def reschedule(
    db: AsyncSession, scope: CallScope, actor: Actor, appointment_id: uuid.UUID, starts_at: datetime
) -> AppointmentOut:
    """Move to another open slot of the same doctor and type, up to the cutoff."""
    settings = scope.settings
    appointment = await get_appointment(db, actor, appointment_id, lock=True)
    check_move(appointment, MOVES["reschedule"], actor)
    check_time(settings, appointment, "reschedule", actor.role, datetime.now(UTC))
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
    was = appointment.starts_at
    appointment.starts_at, appointment.ends_at = start, end
    appointment.blocked_until = blocked
    await flush_booking(db)
    await MOVED.fire(db, Moved(appointment, "reschedule", actor, scope))
    await plan_reminders(db, settings, appointment)
    await audit(db, actor, appointment, "appointment.reschedule", scope.origin)
    await announce(db, appointment, "reschedule", actor, was=was)
    return await read(db, scope, actor, appointment.id)
