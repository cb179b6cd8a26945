"""What people do in the call of a video appointment: join (the waiting room), admit, invite,
leave, end, report quality; the room closing with its appointment, and the sweep that takes
silent members out. What they read of it is ``views.py`` (who may send a signal is
``views.signal_route``'s answer); loading a call and its peers is ``rooms.py``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import User, UserStatus
from carebridge.config import Settings
from carebridge.messaging import service as messaging
from carebridge.messaging.schemas import MemberIn
from carebridge.notifications.service import notify
from carebridge.platform.context import CallScope
from carebridge.platform.errors import Conflict, Forbidden, Invalid
from carebridge.platform.events import publish_after_commit
from carebridge.presence import service as presence
from carebridge.presence.models import Status
from carebridge.scheduling.models import Appointment, AppointmentType
from carebridge.video import policy
from carebridge.video.kinds import CALL_INVITED, CALL_WAITING
from carebridge.video.models import (
    Call,
    CallGuest,
    CallParticipant,
    CallQuality,
    LeftReason,
    ParticipantState,
)
from carebridge.video.rooms import (
    audit,
    call_for_update,
    existing_call,
    get_appointment,
    live_peers,
    names_of,
    participant_out,
)
from carebridge.video.schemas import AdmitIn, CallOut, IceOut, InviteIn, JoinOut, LeaveIn, StatsIn
from carebridge.video.turn import ice_servers
from carebridge.video.views import call_out

USER_TOPIC = "user."
CHECK_MINUTES = 5  # the pre-call check's TURN credentials
MAX_SAMPLES = 2000  # quality reports kept per peer (one every 5 s: close to three hours)


def _not_host() -> Forbidden:
    return Forbidden("The appointment's doctor runs the call.", code="not_host")


def _event(db: AsyncSession, appointment: Appointment, name: str, data: dict[str, Any]) -> None:
    publish_after_commit(db, policy.room_topic(appointment.id), name, data)


async def _tell_host(db: AsyncSession, appointment: Appointment, call: Call) -> None:
    """The doctor's pages show who waits, live (``call.waiting`` on their own topic)."""
    live = await live_peers(db, call)
    waiting = [p for p in live if p.state == ParticipantState.waiting]
    names = await names_of(db, [p.user_id for p in waiting])
    data = {
        "appointment_id": str(appointment.id),
        "waiting": [participant_out(p, names).model_dump(mode="json") for p in waiting],
    }
    publish_after_commit(db, f"{USER_TOPIC}{appointment.doctor_id}", "call.waiting", data)


# -- presence: busy while in a call ---------------------------------------------------------------


async def _doctor_in(
    db: AsyncSession, settings: Settings, call: Call, doctor_id: uuid.UUID
) -> None:
    if call.doctor_status_before is None:
        before = await presence.get_status(db, doctor_id)
        call.doctor_status_before = str(before.status)
    await presence.set_status(db, settings, doctor_id, Status.busy)


async def _doctor_out(
    db: AsyncSession, settings: Settings, call: Call, doctor_id: uuid.UUID
) -> None:
    """The doctor's last peer left: their status goes back to what it was before the call."""
    if call.doctor_status_before is None:
        return
    before = Status(call.doctor_status_before)
    call.doctor_status_before = None
    await presence.set_status(db, settings, doctor_id, before)


def _mark_left(participant: CallParticipant, reason: LeftReason, now: datetime) -> None:
    participant.state = ParticipantState.left
    participant.left_at = now
    participant.left_reason = reason


async def _after_leaving(
    db: AsyncSession,
    settings: Settings,
    appointment: Appointment,
    call: Call,
    gone: Sequence[CallParticipant],
    now: datetime,
) -> None:
    """Tell the room who left; give the doctor their status back when they are out; the call
    has ended when no one is in it."""
    await db.flush()
    live = await live_peers(db, call)
    if not any(p.user_id == appointment.doctor_id for p in live):
        await _doctor_out(db, settings, call, appointment.doctor_id)
    if call.connected_at is not None and not any(p.state == ParticipantState.in_call for p in live):
        call.ended_at = call.ended_at or now
    for participant in gone:
        _event(db, appointment, "participant.left", _left_data(participant))
    # Marked left already: one never admitted was waiting, and the doctor's list changed.
    if any(p.admitted_at is None for p in gone):
        await _tell_host(db, appointment, call)


def _left_data(participant: CallParticipant) -> dict[str, Any]:
    return {
        "participant_id": str(participant.id),
        "user_id": str(participant.user_id),
        "reason": participant.left_reason,
    }


# -- joining --------------------------------------------------------------------------------------


async def join(
    db: AsyncSession, scope: CallScope, actor: Actor, appointment_id: uuid.UUID
) -> JoinOut:
    """Join the call: the doctor is in at once; anyone else waits until the doctor admits them,
    unless they were in the call already (a reload rejoins). Joining again replaces your
    earlier peer."""
    settings = scope.settings
    now = datetime.now(UTC)
    appointment = await get_appointment(db, actor.id, appointment_id)
    window = policy.check_open(settings, appointment, now)
    call = await call_for_update(db, appointment.id)
    host = policy.hosts(actor.id, appointment)
    if call.ended_by is not None and not host:
        raise Conflict("The doctor ended this call.", code="call_ended")
    live = await live_peers(db, call)
    earlier = next((p for p in live if p.user_id == actor.id), None)
    if earlier is None and len(live) >= settings.call_max_participants:
        raise Conflict(
            f"The call is full ({settings.call_max_participants} people).", code="call_full"
        )
    admitted = host or (earlier is not None and earlier.state == ParticipantState.in_call)
    if earlier is not None:
        _mark_left(earlier, LeftReason.rejoined, now)
        await db.flush()
    if host:
        call.ended_at = call.ended_by = None
        await _doctor_in(db, settings, call, actor.id)
    participant = CallParticipant(
        id=uuid.uuid4(),
        call_id=call.id,
        user_id=actor.id,
        role=str(actor.role),
        state=ParticipantState.in_call if admitted else ParticipantState.waiting,
        joined_at=now,
        admitted_at=now if admitted else None,
        last_seen_at=now,
    )
    db.add(participant)
    await db.flush()
    names = await names_of(db, [actor.id])
    out = participant_out(participant, names)
    if earlier is not None:
        _event(db, appointment, "participant.left", _left_data(earlier))
    if admitted:
        await _connected(db, call, now)
        _event(db, appointment, "participant.joined", out.model_dump(mode="json"))
    else:
        _event(db, appointment, "participant.waiting", out.model_dump(mode="json"))
        await _tell_host(db, appointment, call)
        await _notify_waiting(db, appointment, names[actor.id])
    await audit(db, scope, actor, "call.joined", appointment, participant_id=participant.id)
    return JoinOut(
        participant=out,
        call=await call_out(db, settings, actor, appointment, call, now),
        topics=[policy.room_topic(appointment.id), policy.peer_topic(appointment.id, out.id)],
        **ice(settings, actor.id, window.closes_at).model_dump(),
    )


def ice(settings: Settings, user_id: uuid.UUID, expires_at: datetime) -> IceOut:
    """The ICE configuration of a call: TURN credentials for ``user_id`` that lapse at
    ``expires_at`` (coturn refuses a new relay after it; one running goes on)."""
    secret = settings.turn_secret.get_secret_value() if settings.turn_secret else None
    return IceOut(
        ice_servers=ice_servers(
            settings.stun_urls, settings.turn_urls, secret, user_id, expires_at
        ),
        ice_transport_policy=settings.call_ice_transport_policy,
        credentials_expire_at=expires_at,
    )


def check_ice(settings: Settings, actor: Actor) -> IceOut:
    """For the pre-call check (can this browser reach a TURN relay?): credentials for a few
    minutes, tied to no call."""
    return ice(settings, actor.id, datetime.now(UTC) + timedelta(minutes=CHECK_MINUTES))


async def _connected(db: AsyncSession, call: Call, now: datetime) -> None:
    """Two people in the call: it is connected from now (its duration counts from here)."""
    if call.connected_at is not None:
        return
    in_call = await db.scalar(
        select(func.count())
        .select_from(CallParticipant)
        .where(CallParticipant.call_id == call.id, policy.is_live())
    )
    if (in_call or 0) >= 2:
        call.connected_at = now


async def _notify_waiting(db: AsyncSession, appointment: Appointment, name: str) -> None:
    await notify(
        db,
        appointment.doctor_id,
        CALL_WAITING.name,
        f"{name} is waiting for your video call",
        f"{name} joined the call of your appointment and waits to be let in.",
        data={"appointment_id": str(appointment.id)},
        link=f"/appointments/{appointment.id}/call",
        dedup_key=f"call_waiting:{appointment.id}",
        dedup_window=timedelta(minutes=5),
    )


async def admit(
    db: AsyncSession, scope: CallScope, actor: Actor, appointment_id: uuid.UUID, body: AdmitIn
) -> CallOut:
    """The doctor lets a waiting member in."""
    now = datetime.now(UTC)
    appointment = await get_appointment(db, actor.id, appointment_id)
    if not policy.hosts(actor.id, appointment):
        raise _not_host()
    policy.check_open(scope.settings, appointment, now)
    call = await call_for_update(db, appointment.id)
    waiting = next(
        (p for p in await live_peers(db, call) if p.id == body.participant_id),
        None,
    )
    if waiting is None or waiting.state != ParticipantState.waiting:
        raise Conflict("No one waits under this peer id.", code="not_waiting")
    waiting.state = ParticipantState.in_call
    waiting.admitted_at = now
    waiting.admitted_by = actor.id
    await db.flush()
    await _connected(db, call, now)
    names = await names_of(db, [waiting.user_id])
    _event(
        db,
        appointment,
        "participant.joined",
        participant_out(waiting, names).model_dump(mode="json"),
    )
    await _tell_host(db, appointment, call)
    await audit(db, scope, actor, "call.admitted", appointment, participant_id=waiting.id)
    return await call_out(db, scope.settings, actor, appointment, call, now)


async def invite(
    db: AsyncSession, scope: CallScope, actor: Actor, appointment_id: uuid.UUID, body: InviteIn
) -> CallOut:
    """The doctor invites a nurse or another doctor: they become a member of the call and of
    the appointment's conversation, and are told."""
    now = datetime.now(UTC)
    appointment = await get_appointment(db, actor.id, appointment_id)
    if not policy.hosts(actor.id, appointment):
        raise _not_host()
    policy.check_open(scope.settings, appointment, now)
    person = await db.scalar(
        select(User).where(User.id == body.user_id, User.status == UserStatus.active)
    )
    if person is None or person.role not in policy.INVITABLE_ROLES:
        raise Invalid("Invite an active nurse or doctor.", code="not_a_clinician")
    if person.id in (appointment.patient_id, appointment.doctor_id):
        raise Conflict("This person is a member already.", code="already_member")
    added = await db.scalar(
        insert(CallGuest)
        .values(
            appointment_id=appointment.id, user_id=person.id, invited_by=actor.id, invited_at=now
        )
        .on_conflict_do_nothing()
        .returning(CallGuest.user_id)
    )
    if added is None:
        raise Conflict("This person is a member already.", code="already_member")
    conversation = await messaging.conversation_of_appointment(db, actor, appointment.id)
    if conversation is not None and not await messaging.is_member(db, conversation.id, person.id):
        await messaging.add_member(db, scope, actor, conversation.id, MemberIn(user_id=person.id))
    await notify(
        db,
        person.id,
        CALL_INVITED.name,
        "You are invited into a video call",
        "A doctor invited you into the video call of one of their appointments.",
        data={"appointment_id": str(appointment.id)},
        link=f"/appointments/{appointment.id}/call",
    )
    _event(db, appointment, "guest.invited", {"user_id": str(person.id), "role": person.role})
    await audit(db, scope, actor, "call.invited", appointment, guest_id=person.id)
    call = await call_for_update(db, appointment.id)
    return await call_out(db, scope.settings, actor, appointment, call, now)


async def invitable(
    db: AsyncSession, actor: Actor, appointment_id: uuid.UUID, limit: int = 200
) -> list[tuple[uuid.UUID, str, str]]:
    """Whom the appointment's doctor may invite now (id, name, role): active nurses and doctors
    who are not members yet, by name. Empty for anyone else (only its doctor invites)."""
    appointment = await get_appointment(db, actor.id, appointment_id)
    if not policy.hosts(actor.id, appointment):
        return []
    guests = select(CallGuest.user_id).where(CallGuest.appointment_id == appointment.id)
    rows = await db.execute(
        select(User.id, User.name, User.role)
        .where(
            User.status == UserStatus.active,
            User.role.in_(policy.INVITABLE_ROLES),
            User.id.not_in([appointment.patient_id, appointment.doctor_id]),
            User.id.not_in(guests),
        )
        .order_by(User.name)
        .limit(limit)
    )
    return [(row[0], row[1], str(row[2])) for row in rows]


# -- leaving and ending ---------------------------------------------------------------------------


async def leave(
    db: AsyncSession, scope: CallScope, actor: Actor, appointment_id: uuid.UUID, body: LeaveIn
) -> CallOut:
    """Hang up (always allowed, open room or not)."""
    now = datetime.now(UTC)
    appointment = await get_appointment(db, actor.id, appointment_id)
    call = await existing_call(db, appointment.id)
    live = await live_peers(db, call) if call is not None else []
    mine = [
        p
        for p in live
        if p.user_id == actor.id and (body.participant_id is None or p.id == body.participant_id)
    ]
    if call is None or not mine:
        raise Conflict("You are not in this call.", code="not_in_call")
    for participant in mine:
        _mark_left(participant, LeftReason.left, now)
    await _after_leaving(db, scope.settings, appointment, call, mine, now)
    await audit(db, scope, actor, "call.left", appointment, participant_id=mine[0].id)
    return await call_out(db, scope.settings, actor, appointment, call, now)


async def end(
    db: AsyncSession, scope: CallScope, actor: Actor, appointment_id: uuid.UUID
) -> CallOut:
    """The doctor ends the call for everyone (then completes the appointment, if it is over)."""
    now = datetime.now(UTC)
    appointment = await get_appointment(db, actor.id, appointment_id)
    if not policy.hosts(actor.id, appointment):
        raise _not_host()
    call = await existing_call(db, appointment.id)
    if call is None or call.ended_by is not None:
        raise Conflict("The call is not running.", code="call_not_running")
    await _end(db, scope.settings, appointment, call, LeftReason.ended, now, actor.id)
    await audit(db, scope, actor, "call.ended", appointment)
    return await call_out(db, scope.settings, actor, appointment, call, now)


async def _end(
    db: AsyncSession,
    settings: Settings,
    appointment: Appointment,
    call: Call,
    reason: LeftReason,
    now: datetime,
    by: uuid.UUID | None,
) -> None:
    live = await live_peers(db, call)
    for participant in live:
        _mark_left(participant, reason, now)
    call.ended_at = now
    call.ended_by = by
    await _after_leaving(db, settings, appointment, call, live, now)
    _event(
        db,
        appointment,
        "call.ended",
        {"ended_at": now.isoformat(), "ended_by": str(by) if by else None, "reason": reason},
    )


async def on_moved(db: AsyncSession, settings: Settings, appointment: Appointment) -> None:
    """The appointment was completed, cancelled or marked a no-show: its room closes and
    everyone in it is told. Only a video appointment has one: no query for the others."""
    if appointment.type != AppointmentType.video or appointment.status in policy.OPEN_STATUSES:
        return
    call = await existing_call(db, appointment.id)
    if call is None or (call.ended_at is not None and not await live_peers(db, call)):
        return
    await _end(db, settings, appointment, call, LeftReason.closed, datetime.now(UTC), None)


# -- quality and presence in the call -------------------------------------------------------------


async def report(
    db: AsyncSession, scope: CallScope, actor: Actor, appointment_id: uuid.UUID, body: StatsIn
) -> None:
    """A client's quality sample; it also says the member is still there."""
    appointment = await get_appointment(db, actor.id, appointment_id)
    participant: CallParticipant | None = await db.scalar(
        select(CallParticipant)
        .join(Call, Call.id == CallParticipant.call_id)
        .where(
            Call.appointment_id == appointment.id,
            CallParticipant.id == body.participant_id,
            CallParticipant.user_id == actor.id,
            CallParticipant.state != ParticipantState.left,
        )
        .with_for_update(of=CallParticipant)
    )
    if participant is None:
        raise Conflict("You are not in this call.", code="not_in_call")
    participant.last_seen_at = datetime.now(UTC)
    if body.relayed is not None:
        participant.relayed = body.relayed
    measured = body.model_dump(exclude={"participant_id"}, exclude_none=True)
    if not measured:
        return
    samples = await db.scalar(
        select(func.count()).where(CallQuality.participant_id == participant.id)
    )
    if (samples or 0) >= MAX_SAMPLES:
        return  # enough to sum the call up; the member is still marked as seen
    db.add(CallQuality(participant_id=participant.id, **measured))


async def sweep(db: AsyncSession, settings: Settings, now: datetime) -> int:
    """Members silent longer than ``CAREBRIDGE_CALL_SILENT_SECONDS`` (their page closed, their
    network or our process died) are taken out, as are the members of rooms that closed: the
    room is told, the doctor's status given back. Safe in several processes at once (each row is
    claimed under its call's lock). Answers the peers taken out."""
    silent = now - timedelta(seconds=settings.call_silent_seconds)
    rows = (
        await db.execute(
            select(CallParticipant.call_id, Appointment.id)
            .join(Call, Call.id == CallParticipant.call_id)
            .join(Appointment, Appointment.id == Call.appointment_id)
            .where(CallParticipant.state != ParticipantState.left)
            .where(
                (CallParticipant.last_seen_at < silent)
                | Appointment.status.not_in(policy.OPEN_STATUSES)
                | (Appointment.ends_at + timedelta(minutes=settings.call_grace_minutes) <= now)
            )
            .distinct()
        )
    ).all()
    taken = 0
    for _call_id, appointment_id in rows:
        taken += await _sweep_call(db, settings, appointment_id, silent, now)
    return taken


async def _sweep_call(
    db: AsyncSession, settings: Settings, appointment_id: uuid.UUID, silent: datetime, now: datetime
) -> int:
    appointment = await db.get(Appointment, appointment_id)
    call = await existing_call(db, appointment_id)
    if appointment is None or call is None:
        return 0
    if not policy.room(settings, appointment).is_open(now) or (
        appointment.status not in policy.OPEN_STATUSES
    ):
        live = await live_peers(db, call)
        if live:
            await _end(db, settings, appointment, call, LeftReason.closed, now, None)
        return len(live)
    gone = [p for p in await live_peers(db, call) if p.last_seen_at < silent]
    for participant in gone:
        _mark_left(participant, LeftReason.gone, now)
    if gone:
        await _after_leaving(db, settings, appointment, call, gone, now)
    return len(gone)
