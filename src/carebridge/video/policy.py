"""Who is in a call and when its room is open: the one place these rules live.

Members are the appointment's patient and doctor and the clinicians its doctor invited; an
administrator is not one (a call is a consultation, not a record to inspect). The room of a
confirmed video appointment opens ``CAREBRIDGE_CALL_OPEN_MINUTES_BEFORE`` its start and closes
``CAREBRIDGE_CALL_GRACE_MINUTES`` after its end, or when it is completed (or cancelled, or marked
a no-show)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, or_, select

from carebridge.accounts.models import Role
from carebridge.config import Settings
from carebridge.platform.errors import Conflict
from carebridge.scheduling.models import Appointment, AppointmentStatus, AppointmentType
from carebridge.video.models import CallGuest, CallParticipant, ParticipantState

INVITABLE_ROLES = frozenset({Role.nurse, Role.doctor})
OPEN_STATUSES = frozenset({AppointmentStatus.scheduled, AppointmentStatus.in_progress})
TOPIC = "call."


def room_topic(appointment_id: uuid.UUID) -> str:
    """The room's events: who waits, joins, is admitted and leaves; the call's end."""
    return f"{TOPIC}{appointment_id}"


def peer_topic(appointment_id: uuid.UUID, participant_id: uuid.UUID) -> str:
    """The signals sent to one peer: only its own page reads them."""
    return f"{TOPIC}{appointment_id}.{participant_id}"


def is_member(user_id: uuid.UUID) -> ColumnElement[bool]:
    """An appointment whose call ``user_id`` belongs to."""
    invited = exists().where(
        CallGuest.appointment_id == Appointment.id, CallGuest.user_id == user_id
    )
    return or_(Appointment.patient_id == user_id, Appointment.doctor_id == user_id, invited)


def member_appointments(user_id: uuid.UUID) -> Select[Any]:
    return select(Appointment).where(is_member(user_id))


def is_live(participant: type[CallParticipant] = CallParticipant) -> ColumnElement[bool]:
    """A peer in the call now (admitted, not left): the only ones signals pass between."""
    return participant.state == ParticipantState.in_call


@dataclass(frozen=True)
class Room:
    opens_at: datetime
    closes_at: datetime

    def is_open(self, now: datetime) -> bool:
        return self.opens_at <= now < self.closes_at


def room(settings: Settings, appointment: Appointment) -> Room:
    opens = appointment.starts_at - timedelta(minutes=settings.call_open_minutes_before)
    closes = appointment.ends_at + timedelta(minutes=settings.call_grace_minutes)
    if appointment.completed_at is not None:
        closes = min(closes, appointment.completed_at)
    return Room(opens, closes)


def check_open(settings: Settings, appointment: Appointment, now: datetime) -> Room:
    """Refuse, saying why and when, unless members may be in the call now."""
    if appointment.type != AppointmentType.video:
        raise Conflict(
            "This appointment is not a video consultation.", code="not_a_video_appointment"
        )
    window = room(settings, appointment)
    if appointment.status == AppointmentStatus.pending_payment:
        raise Conflict("The appointment is not confirmed yet (unpaid).", code="not_confirmed")
    if appointment.status not in OPEN_STATUSES or now >= window.closes_at:
        raise Conflict(
            "The call is closed: the appointment is over.",
            code="call_closed",
            closed_at=window.closes_at.isoformat(),
        )
    if now < window.opens_at:
        raise Conflict(
            f"The call opens at {window.opens_at.isoformat()} "
            f"({settings.call_open_minutes_before} minutes before the appointment).",
            code="call_not_open",
            opens_at=window.opens_at.isoformat(),
        )
    return window


def hosts(user_id: uuid.UUID, appointment: Appointment) -> bool:
    """The appointment's doctor runs the call: admits, invites, ends."""
    return appointment.doctor_id == user_id


@dataclass(frozen=True)
class CallLink:
    """What an appointment's pages offer one of its members: the way into its call now
    (``opens_at`` None), or when the room opens. ``host``: the doctor starts the call, the
    others join it."""

    host: bool
    opens_at: datetime | None


def call_link_state(
    settings: Settings, appointment: Appointment, user_id: uuid.UUID, now: datetime
) -> CallLink | None:
    """The link to the call the pages show a member (``check_open``'s answer, for a page):
    None when there is nothing to join (not a video appointment, unpaid, over, closed)."""
    try:
        check_open(settings, appointment, now)
    except Conflict as refused:
        if refused.error_code != "call_not_open":
            return None
        return CallLink(hosts(user_id, appointment), room(settings, appointment).opens_at)
    return CallLink(hosts(user_id, appointment), None)
