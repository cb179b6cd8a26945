"""Appointments: booking and reading. The moves of their lifecycle are in ``lifecycle``
(people's) and ``moves`` (the system's).

Booking is serialised per patient (an advisory lock) so the cap on upcoming appointments and the
idempotency key hold under concurrent requests; between patients nothing is serialised, and the
database's exclusion constraint decides who gets a contested slot (the others get 409
``slot_taken``). Every change is audited and told to the people it concerns through the outbox
(``notices.announce``)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from carebridge.accounts.actors import Actor
from carebridge.accounts.api_keys import ApiClient
from carebridge.accounts.models import User
from carebridge.compliance.service import audit_values
from carebridge.config import Settings
from carebridge.platform.context import CallScope
from carebridge.platform.crypto import Keyring
from carebridge.platform.db import driver_connection
from carebridge.platform.errors import Conflict, Invalid, NotFound
from carebridge.platform.pagination import MAX_PAGE_SIZE, Page, decode_cursor, encode_cursor
from carebridge.scheduling import schedules, slots
from carebridge.scheduling.hooks import BOOKED, Booking
from carebridge.scheduling.models import (
    Appointment,
    AppointmentStatus,
    AppointmentType,
)
from carebridge.scheduling.moves import expire_holds
from carebridge.scheduling.notices import (
    TYPE_LABELS,
    Person,
    announce,
    audit,
    audit_fields,
    reminders_of,
)
from carebridge.scheduling.policy import visible_appointments
from carebridge.scheduling.queries import (
    BOOKING_FACTS,
    LOCK_PATIENT,
    WRITE_BOOKING,
    BookingQuestion,
    NewBooking,
    PatientLock,
    care_history_select,
)
from carebridge.scheduling.schemas import AppointmentOut, BookIn
from carebridge.scheduling.sealed import REASON

_Doctor = aliased(User)
_Patient = aliased(User)


# -- reading --------------------------------------------------------------------------------------


def _out(row: Appointment, doctor: str, patient: str, reason: str | None) -> AppointmentOut:
    return AppointmentOut(
        id=row.id,
        doctor_id=row.doctor_id,
        doctor_name=doctor,
        patient_id=row.patient_id,
        patient_name=patient,
        type=AppointmentType(row.type),
        status=AppointmentStatus(row.status),
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        time_zone=row.time_zone,
        reason=reason,
        fee=row.fee,
        currency=row.currency,
        hold_expires_at=row.hold_expires_at,
        cancel_reason=row.cancel_reason,
        cancelled_at=row.cancelled_at,
        created_at=row.created_at,
    )


def _with_names(statement: Select[Any]) -> Select[Any]:
    return (
        statement.join(_Doctor, _Doctor.id == Appointment.doctor_id)
        .join(_Patient, _Patient.id == Appointment.patient_id)
        .add_columns(_Doctor.name, _Patient.name)
    )


async def get_appointment(
    db: AsyncSession, actor: Actor, appointment_id: uuid.UUID, *, lock: bool = False
) -> Appointment:
    """An appointment the caller may see; 404 otherwise, exactly as if it did not exist."""
    statement = visible_appointments(actor).where(Appointment.id == appointment_id)
    if lock:
        statement = statement.with_for_update()
    row: Appointment | None = await db.scalar(statement)
    if row is None:
        raise NotFound("No such appointment.")
    return row


async def read(
    db: AsyncSession, scope: CallScope, actor: Actor, appointment_id: uuid.UUID
) -> AppointmentOut:
    """One appointment with its reason for the visit (a read of health data: audited)."""
    found = (
        await db.execute(
            _with_names(visible_appointments(actor).where(Appointment.id == appointment_id))
        )
    ).one_or_none()
    if found is None:
        raise NotFound("No such appointment.")
    row, doctor, patient = found
    if row.reason_sealed is not None:
        await scope.unlock(db, row.patient_id)
    reason = scope.keyring.open_text(REASON, row)
    if reason is not None:
        await audit(db, actor, row, "appointment.reason_read", scope.origin)
    return _out(row, doctor, patient, reason)


async def list_appointments(
    db: AsyncSession,
    actor: Actor | ApiClient,
    *,
    status: AppointmentStatus | None,
    start: datetime | None,
    end: datetime | None,
    cursor: str | None,
    limit: int,
) -> Page[AppointmentOut]:
    """Soonest first by start (then id); the reason for the visit is left out of lists."""
    statement = visible_appointments(actor)
    if status is not None:
        statement = statement.where(Appointment.status == str(status))
    if start is not None:
        statement = statement.where(Appointment.starts_at >= start)
    if end is not None:
        statement = statement.where(Appointment.starts_at < end)
    if cursor:
        at, after_id = decode_cursor(cursor)
        statement = statement.where(
            func.row(Appointment.starts_at, Appointment.id) > func.row(at, after_id)
        )
    statement = statement.order_by(Appointment.starts_at, Appointment.id).limit(limit + 1)
    rows = (await db.execute(_with_names(statement))).all()
    items = [_out(r, doctor, patient, None) for r, doctor, patient in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1][0]
        next_cursor = encode_cursor(last.starts_at, last.id)
    return Page(items=items, next_cursor=next_cursor)


def still_ahead(now: datetime) -> ColumnElement[bool]:
    """An appointment still ahead of both people: scheduled, or held for payment while its hold
    lasts, and not yet ended. (Not in progress, completed, missed or cancelled.)"""
    return and_(
        Appointment.ends_at > now,
        or_(
            Appointment.status == AppointmentStatus.scheduled,
            and_(
                Appointment.status == AppointmentStatus.pending_payment,
                Appointment.hold_expires_at > now,
            ),
        ),
    )


@dataclass(frozen=True)
class CareHistory:
    """What a patient and a doctor have had together: the end of their latest appointment that
    was not cancelled (None: they never had one) and whether one is still ahead."""

    last_ends_at: datetime | None
    upcoming: bool


async def care_history(
    db: AsyncSession, patient_id: uuid.UUID, doctor_id: uuid.UUID, now: datetime
) -> CareHistory:
    """The appointments of ``patient_id`` with ``doctor_id`` that took or hold place
    (``queries.care_history_select``)."""
    last, upcoming = (await db.execute(care_history_select(patient_id, doctor_id, now))).one()
    return CareHistory(last, bool(upcoming))


async def _listed(db: AsyncSession, statement: Select[Any]) -> list[AppointmentOut]:
    statement = statement.order_by(Appointment.starts_at, Appointment.id)
    rows = (await db.execute(_with_names(statement))).all()
    return [_out(row, doctor, patient, None) for row, doctor, patient in rows]


async def list_upcoming(
    db: AsyncSession, actor: Actor, *, now: datetime, limit: int
) -> list[AppointmentOut]:
    """The caller's appointments still ahead (:func:`still_ahead`), soonest first: a patient's
    next appointment, the "Upcoming" list."""
    statement = visible_appointments(actor).where(still_ahead(now)).limit(limit)
    return await _listed(db, statement)


async def list_day(
    db: AsyncSession, actor: Actor, *, start: datetime, end: datetime
) -> list[AppointmentOut]:
    """The caller's appointments starting in [start, end), cancelled ones left out, in time
    order: a doctor's day (``start`` and ``end`` are midnights in the doctor's zone)."""
    statement = visible_appointments(actor).where(
        Appointment.starts_at >= start,
        Appointment.starts_at < end,
        Appointment.status != AppointmentStatus.cancelled,
    )
    return await _listed(db, statement.limit(MAX_PAGE_SIZE))


# -- booking --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Booked:
    appointment: AppointmentOut
    created: bool  # False: the same Idempotency-Key answered with the first result


# The keyring's purpose for the hash of a booking request. Keyed: the reason for the visit is in
# it, and an unkeyed hash would let a copy of the database confirm a guessed reason.
_REQUEST_HASH = "booking-request"


def _booking_request(body: BookIn) -> bytes:
    """What makes two bookings with one Idempotency-Key the same request."""
    start = body.starts_at.astimezone(UTC).isoformat()
    return json.dumps([str(body.doctor_id), start, str(body.type), body.reason or ""]).encode()


# A slot is checked by listing the open slots in [start, start + _PROBE) and finding start.
_PROBE = timedelta(minutes=1)


def verdict(
    rules: slots.Rules,
    start: datetime,
    extra: list[slots.Interval],
    time_off: list[slots.Interval],
    held: list[slots.Interval],
) -> tuple[datetime, datetime]:
    """(ends_at, blocked_until) of the slot at ``start`` when the doctor offers it and nobody
    holds it; 422 ``not_a_slot`` when it is not offered, 409 ``slot_taken`` when it is held."""
    offered = slots.open_slots(
        rules, start, start + _PROBE, now=datetime.now(UTC), extra=extra, time_off=time_off
    )
    if not any(s == start for s, _ in offered):
        raise Invalid(
            "There is no slot at that time: pick one from the doctor's open slots.",
            code="not_a_slot",
        )
    ends_at, blocked_until = start + rules.duration, start + rules.duration + rules.buffer
    if any(b_start < blocked_until and start < b_end for b_start, b_end in held):
        raise _taken()
    return ends_at, blocked_until


def _no_such_type(kind: AppointmentType) -> Invalid:
    return Invalid(
        f"This doctor does not offer {TYPE_LABELS[kind]} appointments.", code="no_such_type"
    )


async def check_slot(
    db: AsyncSession,
    doctor_id: uuid.UUID,
    kind: AppointmentType,
    starts_at: datetime,
    *,
    ignoring: uuid.UUID | None = None,
) -> tuple[datetime, datetime, datetime, str]:
    """(starts_at, ends_at, blocked_until, time zone) of a bookable slot; 422 ``not_a_slot``
    when the doctor offers no such slot, 409 ``slot_taken`` when someone holds it."""
    found = await schedules.rules_of(db, doctor_id, kind)
    if found is None:
        raise _no_such_type(kind)
    schedule, rules = found
    start = starts_at.astimezone(UTC)
    near = await schedules.around(db, doctor_id, start, start + _PROBE, ignoring=ignoring)
    ends_at, blocked_until = verdict(rules, start, near.extra, near.time_off, near.held)
    return start, ends_at, blocked_until, schedule.time_zone


def _taken() -> Conflict:
    return Conflict(
        "This slot was just taken by someone else. Please pick another time.", code="slot_taken"
    )


def _conflict_of(constraint: str) -> Conflict | None:
    """The answer to a booking the database refused by ``constraint``."""
    if "no_double_booking" in constraint:
        return _taken()
    if "patient_one_at_a_time" in constraint:
        return Conflict(
            "You already have an appointment at that time.", code="overlaps_your_appointment"
        )
    if "uq_appointments_idempotency" in constraint:
        return Conflict(
            "Another request with this Idempotency-Key is being booked; send it again.",
            code="idempotency_key_busy",
        )
    return None


async def flush_booking(db: AsyncSession) -> None:
    """Flush an appointment's time; the database's constraints decide conflicts. No savepoint:
    a refusal ends the request, and its transaction rolls back."""
    try:
        await db.flush()
    except IntegrityError as exc:
        conflict = _conflict_of(str(exc.orig))
        if conflict is None:
            raise
        raise conflict from exc


def _rules(facts: asyncpg.Record) -> slots.Rules:
    return slots.Rules(
        time_zone=facts["time_zone"],
        windows=list(facts["windows"]),
        duration=timedelta(minutes=facts["duration_minutes"]),
        buffer=timedelta(minutes=facts["buffer_minutes"]),
        min_notice=timedelta(minutes=facts["min_notice_minutes"]),
        horizon=timedelta(days=facts["booking_horizon_days"]),
    )


async def book(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    body: BookIn,
    *,
    idempotency_key: str | None,
) -> Booked:
    """Book the slot ``body`` names for the patient ``actor``: load what decides it, decide,
    write. A request repeating an earlier Idempotency-Key answers the first booking."""
    connection = await driver_connection(db)
    now = datetime.now(UTC)
    facts = await _booking_facts(connection, actor, body, idempotency_key, now)
    if facts["earlier_id"] is not None:
        _check_same_request(scope.keyring, body, facts["earlier_hash"])
        return Booked(await read(db, scope, actor, facts["earlier_id"]), created=False)
    if body.reason:  # cached after the patient's first booking: no round trip
        await scope.unlock(db, actor.id)
    row = _decide_booking(scope.settings, scope.keyring, actor, body, facts, idempotency_key, now)
    await _write_booking(db, connection, scope, actor, row, facts)
    # The answer echoes what the patient sent: no read of stored health data.
    out = _out(row, facts["doctor_name"], facts["patient_name"], body.reason)
    return Booked(out, created=True)


async def _booking_facts(
    connection: asyncpg.Connection,
    actor: Actor,
    body: BookIn,
    idempotency_key: str | None,
    now: datetime,
) -> asyncpg.Record:
    """The patient's lock, then everything the booking decides on (``queries.BOOKING_FACTS``)."""
    await connection.execute(LOCK_PATIENT.sql, *LOCK_PATIENT.args(PatientLock(str(actor.id))))
    start = body.starts_at.astimezone(UTC)
    since, until = schedules.near(start, start + _PROBE)
    question = BookingQuestion(
        doctor_id=body.doctor_id,
        patient_id=actor.id,
        type=str(body.type),
        since=since,
        until=until,
        now=now,
        idempotency_key=idempotency_key,
        held_since=since - schedules.LONGEST_HOLD,
    )
    facts = await connection.fetchrow(BOOKING_FACTS.sql, *BOOKING_FACTS.args(question))
    assert facts is not None  # the caller's own row
    return facts


def _check_same_request(keyring: Keyring, body: BookIn, earlier_hash: bytes | None) -> None:
    """422 ``idempotency_key_reused`` unless ``body`` is the request first sent with its key."""
    if not keyring.keyed_hash_matches(_REQUEST_HASH, _booking_request(body), earlier_hash):
        raise Invalid(
            "This Idempotency-Key was used for a different booking; use a new key.",
            code="idempotency_key_reused",
        )


def _decide_booking(
    settings: Settings,
    keyring: Keyring,
    actor: Actor,
    body: BookIn,
    facts: asyncpg.Record,
    idempotency_key: str | None,
    now: datetime,
) -> Appointment:
    """The appointment to write, or the refusal: 404 unless a listed doctor, 409
    ``too_many_appointments``, 422 ``no_such_type``, then the slot's :func:`verdict`."""
    if facts["doctor_name"] is None:
        raise NotFound("No such doctor.")
    if facts["upcoming"] >= settings.max_future_appointments:
        raise Conflict(
            f"You already have {facts['upcoming']} upcoming appointments, the most you can "
            "hold at once. Cancel one or wait until one has taken place.",
            code="too_many_appointments",
        )
    if facts["duration_minutes"] is None:
        raise _no_such_type(body.type)
    start = body.starts_at.astimezone(UTC)
    extra = [(a, b) for kind, a, b in facts["exceptions"] if kind == "extra_hours"]
    time_off = [(a, b) for kind, a, b in facts["exceptions"] if kind == "time_off"]
    ends_at, blocked_until = verdict(_rules(facts), start, extra, time_off, list(facts["held"]))
    fee = facts["fee"] or 0
    paid_online = settings.payment_provider != "offline" and fee > 0
    row = Appointment(
        id=uuid.uuid4(),
        doctor_id=body.doctor_id,
        patient_id=actor.id,
        type=str(body.type),
        status=str(
            AppointmentStatus.pending_payment if paid_online else AppointmentStatus.scheduled
        ),
        starts_at=start,
        ends_at=ends_at,
        blocked_until=blocked_until,
        time_zone=facts["time_zone"],
        hold_expires_at=now + timedelta(minutes=settings.payment_hold_minutes)
        if paid_online
        else None,
        fee=fee,
        currency=settings.currency if fee else None,  # the clinic's one currency
        idempotency_key=idempotency_key,
        request_hash=keyring.keyed_hash(_REQUEST_HASH, _booking_request(body))
        if idempotency_key
        else None,
        confirmed_at=None if paid_online else now,
        created_at=now,
    )
    row.reason_sealed = keyring.seal(REASON, row, body.reason or None)
    return row


async def _write_booking(
    db: AsyncSession,
    connection: asyncpg.Connection,
    scope: CallScope,
    actor: Actor,
    row: Appointment,
    facts: asyncpg.Record,
) -> None:
    """Write the decided appointment with its reminders and audit row
    (``queries.WRITE_BOOKING``; the database's constraints refuse a slot taken meanwhile), then
    tell payments and both people."""
    settings = scope.settings
    if facts["lapsed"]:  # released before the insert, which the constraints check
        await expire_holds(db, settings, doctor_id=row.doctor_id)
    reminders = reminders_of(settings, row)
    logged = audit_values(**audit_fields(actor, row, "appointment.booked", scope.origin))
    logged["details"] = json.dumps(logged["details"])
    written = NewBooking(
        appointment=row,
        recipient_ids=[r[0] for r in reminders],
        minutes_before=[r[1] for r in reminders],
        due_at=[r[2] for r in reminders],
        audit=logged,
    )
    try:
        await connection.execute(WRITE_BOOKING.sql, *WRITE_BOOKING.args(written))
    except asyncpg.DeadlockDetectedError as exc:
        # Two bookings of the same time inserted at once each wait on the other's row for the
        # exclusion constraint; PostgreSQL ends one, and the other takes the time.
        raise _taken() from exc
    except asyncpg.IntegrityConstraintViolationError as exc:
        conflict = _conflict_of(exc.constraint_name or "")
        if conflict is None:
            raise
        raise conflict from exc
    await BOOKED.fire(db, Booking(row, settings))
    people = {
        row.doctor_id: Person(facts["doctor_name"], facts["doctor_zone"]),
        row.patient_id: Person(facts["patient_name"], facts["patient_zone"]),
    }
    await announce(db, row, "booked", actor, people=people)


async def has_care_ahead(db: AsyncSession, patient_id: uuid.UUID, now: datetime) -> bool:
    """Whether the patient has an appointment still ahead or under way (what must be cancelled
    or finished before their account can be erased)."""
    found = await db.scalar(
        select(Appointment.id)
        .where(
            Appointment.patient_id == patient_id,
            or_(still_ahead(now), Appointment.status == AppointmentStatus.in_progress),
        )
        .limit(1)
    )
    return found is not None
