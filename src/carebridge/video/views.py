"""What members read of a call: the call as the API answers it, the doctor's record with the
quality the clients reported, the room topic's snapshot, the signaling checks, and what the pages
show (join links, invited calls, who waits)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import User
from carebridge.config import Settings
from carebridge.platform.context import CallScope
from carebridge.platform.db import Database
from carebridge.platform.errors import Conflict
from carebridge.scheduling.models import Appointment, AppointmentType
from carebridge.video import policy
from carebridge.video.models import Call, CallGuest, CallParticipant, CallQuality, ParticipantState
from carebridge.video.queries import SIGNAL_ROUTE, SignalRoute
from carebridge.video.rooms import (
    audit,
    get_appointment,
    live_peers,
    names_of,
    participant_out,
    peers_of,
)
from carebridge.video.schemas import CallOut, CallRecord, ParticipantOut, QualityOut, RecordEntry


async def read_call(
    db: AsyncSession, scope: CallScope, actor: Actor, appointment_id: uuid.UUID
) -> CallOut:
    appointment = await get_appointment(db, actor.id, appointment_id)
    call = await db.scalar(select(Call).where(Call.appointment_id == appointment.id))
    out = await call_out(db, scope.settings, actor, appointment, call, datetime.now(UTC))
    if out.record is not None:
        await audit(db, scope, actor, "call.record_read", appointment)
    return out


async def record_for(
    db: AsyncSession, scope: CallScope, actor: Actor, appointment_id: uuid.UUID
) -> CallRecord | None:
    """The record of ``appointment``'s call for its doctor's appointment page (audited as a
    read of it); None for anyone else, or when no one joined."""
    appointment = await get_appointment(db, actor.id, appointment_id)
    if not policy.hosts(actor.id, appointment):
        return None
    call = await db.scalar(select(Call).where(Call.appointment_id == appointment.id))
    if call is None:
        return None
    everyone = await peers_of(db, call)
    if not everyone:
        return None
    names = await names_of(db, [p.user_id for p in everyone])
    found = await _record(db, call, everyone, names, datetime.now(UTC))
    await audit(db, scope, actor, "call.record_read", appointment)
    return found


async def call_out(
    db: AsyncSession,
    settings: Settings,
    actor: Actor,
    appointment: Appointment,
    call: Call | None,
    now: datetime,
) -> CallOut:
    window = policy.room(settings, appointment)
    everyone = await peers_of(db, call) if call is not None else []
    names = await names_of(db, [p.user_id for p in everyone])
    live = [p for p in everyone if p.state != ParticipantState.left]
    mine = next((p for p in live if p.user_id == actor.id), None)
    host = policy.hosts(actor.id, appointment)
    try:
        policy.check_open(settings, appointment, now)
        is_open = True
    except Conflict:
        is_open = False
    return CallOut(
        appointment_id=appointment.id,
        opens_at=window.opens_at,
        closes_at=window.closes_at,
        open=is_open,
        ended_at=call.ended_at if call is not None else None,
        participants=[participant_out(p, names) for p in live],
        you=participant_out(mine, names) if mine is not None else None,
        record=await _record(db, call, everyone, names, now) if host and call else None,
    )


async def _record(
    db: AsyncSession,
    call: Call,
    everyone: list[CallParticipant],
    names: dict[uuid.UUID, str],
    now: datetime,
) -> CallRecord:
    quality = await _quality(db, [p.id for p in everyone])
    entries = []
    for participant in everyone:
        start = participant.admitted_at
        stop = participant.left_at or now
        entries.append(
            RecordEntry(
                **participant_out(participant, names).model_dump(),
                seconds=(stop - start).total_seconds() if start else 0.0,
                quality=quality.get(participant.id, _NO_QUALITY),
            )
        )
    stop = call.ended_at or now
    return CallRecord(
        connected_at=call.connected_at,
        ended_at=call.ended_at,
        seconds=(stop - call.connected_at).total_seconds() if call.connected_at else 0.0,
        relayed=any(
            entry.quality.relayed or p.relayed for entry, p in zip(entries, everyone, strict=True)
        ),
        participants=entries,
    )


_NO_QUALITY = QualityOut(
    samples=0,
    round_trip_ms_avg=None,
    round_trip_ms_max=None,
    packet_loss_max=None,
    frames_decoded=None,
    relayed=None,
)


async def _quality(db: AsyncSession, peers: list[uuid.UUID]) -> dict[uuid.UUID, QualityOut]:
    if not peers:
        return {}
    rows = await db.execute(
        select(
            CallQuality.participant_id,
            func.count(),
            func.avg(CallQuality.round_trip_ms),
            func.max(CallQuality.round_trip_ms),
            func.max(CallQuality.packet_loss),
            func.max(CallQuality.frames_decoded),  # a counter: the last is the largest
            func.bool_or(CallQuality.relayed),
        )
        .where(CallQuality.participant_id.in_(peers))
        .group_by(CallQuality.participant_id)
    )
    return {
        row[0]: QualityOut(
            samples=row[1],
            round_trip_ms_avg=row[2],
            round_trip_ms_max=row[3],
            packet_loss_max=row[4],
            frames_decoded=row[5],
            relayed=row[6],
        )
        for row in rows
    }


async def signal_route(
    database: Database,
    user_id: uuid.UUID,
    appointment_id: uuid.UUID,
    sender: uuid.UUID,
    recipient: uuid.UUID,
) -> str | None:
    """The topic a signal from peer ``sender`` (``user_id``'s) to peer ``recipient`` goes to,
    or None unless both are in the call now: every frame is checked, with one hand-written
    statement (``queries.SIGNAL_ROUTE``) on a driver connection (the hot path of a call)."""
    route = SignalRoute(appointment_id, user_id, sender, recipient)
    async with database.driver_tx() as transaction:
        found = await transaction.connection.fetchval(SIGNAL_ROUTE.sql, *SIGNAL_ROUTE.args(route))
    return policy.peer_topic(appointment_id, recipient) if found is not None else None


async def owns_peer(
    db: AsyncSession, user_id: uuid.UUID, appointment_id: uuid.UUID, participant_id: uuid.UUID
) -> bool:
    """Whether ``participant_id`` is ``user_id``'s peer in this appointment's call (who may read
    the signals sent to it)."""
    found = await db.scalar(
        select(CallParticipant.id)
        .join(Call, Call.id == CallParticipant.call_id)
        .where(
            Call.appointment_id == appointment_id,
            CallParticipant.id == participant_id,
            CallParticipant.user_id == user_id,
        )
    )
    return found is not None


async def room_snapshot(db: AsyncSession, appointment_id: uuid.UUID) -> dict[str, Any]:
    """Who is waiting or in the call now (the room topic's snapshot)."""
    call = await db.scalar(select(Call).where(Call.appointment_id == appointment_id))
    live = await live_peers(db, call) if call is not None else []
    names = await names_of(db, [p.user_id for p in live])
    return {
        "appointment_id": str(appointment_id),
        "ended_at": call.ended_at.isoformat() if call and call.ended_at else None,
        "participants": [participant_out(p, names).model_dump(mode="json") for p in live],
    }


async def call_links(
    db: AsyncSession,
    settings: Settings,
    user_id: uuid.UUID,
    appointment_ids: Sequence[uuid.UUID],
    now: datetime,
) -> dict[uuid.UUID, policy.CallLink]:
    """For the appointment pages: the link to the call of each of ``appointment_ids`` whose
    call ``user_id`` belongs to, as :func:`policy.call_link_state` decides it (none for the
    others, or when there is nothing to join)."""
    if not appointment_ids:
        return {}
    rows = await db.scalars(
        policy.member_appointments(user_id).where(
            Appointment.id.in_(set(appointment_ids)),
            Appointment.type == AppointmentType.video,
            Appointment.status.in_(policy.OPEN_STATUSES),
        )
    )
    links = {a.id: policy.call_link_state(settings, a, user_id, now) for a in rows}
    return {key: link for key, link in links.items() if link is not None}


@dataclass(frozen=True)
class InvitedCall:
    """A call someone was invited into (a nurse's, another doctor's), for their pages."""

    id: uuid.UUID  # the appointment's
    starts_at: datetime
    ends_at: datetime
    doctor_name: str
    link: policy.CallLink


async def invited_calls(
    db: AsyncSession, settings: Settings, user_id: uuid.UUID, now: datetime
) -> list[InvitedCall]:
    """The calls ``user_id`` was invited into that are open now or will open, soonest first:
    their appointments are not theirs to read, but their calls are theirs to join."""
    rows = await db.execute(
        select(Appointment, User.name)
        .join(CallGuest, CallGuest.appointment_id == Appointment.id)
        .join(User, User.id == Appointment.doctor_id)
        .where(CallGuest.user_id == user_id, Appointment.status.in_(policy.OPEN_STATUSES))
        .order_by(Appointment.starts_at)
    )
    found = []
    for appointment, doctor_name in rows:
        link = policy.call_link_state(settings, appointment, user_id, now)
        if link is not None:
            found.append(
                InvitedCall(
                    appointment.id, appointment.starts_at, appointment.ends_at, doctor_name, link
                )
            )
    return found


@dataclass(frozen=True)
class Waiting:
    """Someone waiting in the room of one of a doctor's calls."""

    appointment_id: uuid.UUID
    starts_at: datetime
    participant: ParticipantOut


async def waiting_for(
    db: AsyncSession, doctor_id: uuid.UUID, appointment_id: uuid.UUID | None = None
) -> list[Waiting]:
    """Who waits to be admitted into the calls of ``doctor_id`` (or of one appointment of
    theirs), first come first: the doctor's "Waiting for you" list, which ``call.waiting``
    events on their own topic keep up to date."""
    statement = (
        select(CallParticipant, Appointment.id, Appointment.starts_at)
        .join(Call, Call.id == CallParticipant.call_id)
        .join(Appointment, Appointment.id == Call.appointment_id)
        .where(
            Appointment.doctor_id == doctor_id,
            Appointment.status.in_(policy.OPEN_STATUSES),
            CallParticipant.state == ParticipantState.waiting,
        )
        .order_by(CallParticipant.joined_at)
    )
    if appointment_id is not None:
        statement = statement.where(Appointment.id == appointment_id)
    rows = (await db.execute(statement)).all()
    names = await names_of(db, [row[0].user_id for row in rows])
    return [Waiting(row[1], row[2], participant_out(row[0], names)) for row in rows]
