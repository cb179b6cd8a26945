"""Appointments: booking and reading. The moves of their lifecycle are in ``lifecycle``
(people's) and ``moves`` (the system's).

Booking is serialised per patient (an advisory lock) so the cap on upcoming appointments and the
idempotency key hold under concurrent requests; between patients nothing is serialised, and the
database's exclusion constraint decides who gets a contested slot (the others get 409
``slot_taken``). Every change is audited and tells the other party through the outbox.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import User
from carebridge.config import Settings
from carebridge.directory.models import DoctorProfile
from carebridge.platform.context import SYSTEM, RequestContext
from carebridge.platform.crypto import Keyring
from carebridge.platform.errors import Conflict, Invalid, NotFound
from carebridge.platform.pagination import Page, decode_cursor, encode_cursor
from carebridge.presence.service import listed_doctors
from carebridge.scheduling import schedules, slots
from carebridge.scheduling.models import (
    Appointment,
    AppointmentStatus,
    AppointmentType,
)
from carebridge.scheduling.moves import expire_holds
from carebridge.scheduling.notices import TYPE_LABELS, audit, people_of, plan_reminders, tell
from carebridge.scheduling.policy import visible_appointments
from carebridge.scheduling.schemas import AppointmentOut, BookIn

_Doctor = aliased(User)
_Patient = aliased(User)


# -- reading --------------------------------------------------------------------------------------


def _aad(appointment_id: uuid.UUID) -> bytes:
    return f"appointment:{appointment_id}:reason".encode()


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
    db: AsyncSession,
    keyring: Keyring,
    actor: Actor,
    appointment_id: uuid.UUID,
    context: RequestContext = SYSTEM,
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
    reason = None
    if row.reason_sealed is not None:
        reason = keyring.decrypt(row.reason_sealed, _aad(row.id)).decode()
        await audit(db, actor, row, "appointment.reason_read", context)
    return _out(row, doctor, patient, reason)


async def list_appointments(
    db: AsyncSession,
    actor: Actor,
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


# -- booking --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Booked:
    appointment: AppointmentOut
    created: bool  # False: the same Idempotency-Key answered with the first result


def _request_hash(body: BookIn) -> bytes:
    canonical = f"{body.doctor_id}|{body.starts_at.astimezone(UTC).isoformat()}|{body.type}|"
    return hashlib.sha256((canonical + (body.reason or "")).encode()).digest()


async def _lock_patient(db: AsyncSession, patient_id: uuid.UUID) -> None:
    await db.execute(
        select(func.pg_advisory_xact_lock(func.hashtextextended(f"book:{patient_id}", 0)))
    )


async def _replay(
    db: AsyncSession, keyring: Keyring, actor: Actor, key: str, body: BookIn
) -> Booked | None:
    earlier = await db.scalar(
        select(Appointment).where(
            Appointment.patient_id == actor.id, Appointment.idempotency_key == key
        )
    )
    if earlier is None:
        return None
    if earlier.request_hash != _request_hash(body):
        raise Invalid(
            "This Idempotency-Key was used for a different booking; use a new key.",
            code="idempotency_key_reused",
        )
    return Booked(await read(db, keyring, actor, earlier.id), created=False)


async def _check_cap(db: AsyncSession, settings: Settings, actor: Actor) -> None:
    upcoming = await db.scalar(
        select(func.count())
        .select_from(Appointment)
        .where(
            Appointment.patient_id == actor.id,
            Appointment.status.in_(("pending_payment", "scheduled")),
            Appointment.starts_at > datetime.now(UTC),
        )
    )
    if (upcoming or 0) >= settings.max_future_appointments:
        raise Conflict(
            f"You already have {upcoming} upcoming appointments, the most you can hold "
            "at once. Cancel one or wait until one has taken place.",
            code="too_many_appointments",
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
        raise Invalid(
            f"This doctor does not offer {TYPE_LABELS[kind]} appointments.", code="no_such_type"
        )
    schedule, rules = found
    start = starts_at.astimezone(UTC)
    probe_end = start + timedelta(minutes=1)
    near = await schedules.around(db, doctor_id, start, probe_end, ignoring=ignoring)
    offered = slots.open_slots(
        rules, start, probe_end, now=datetime.now(UTC), extra=near.extra, time_off=near.time_off
    )
    if not any(s == start for s, _ in offered):
        raise Invalid(
            "There is no slot at that time: pick one from the doctor's open slots.",
            code="not_a_slot",
        )
    ends_at, blocked_until = start + rules.duration, start + rules.duration + rules.buffer
    if any(b_start < blocked_until and start < b_end for b_start, b_end in near.held):
        raise _taken()
    return start, ends_at, blocked_until, schedule.time_zone


def _taken() -> Conflict:
    return Conflict(
        "This slot was just taken by someone else. Please pick another time.", code="slot_taken"
    )


def _constraint_error(exc: IntegrityError) -> Conflict | None:
    text = str(exc.orig)
    if "no_double_booking" in text:
        return _taken()
    if "patient_one_at_a_time" in text:
        return Conflict(
            "You already have an appointment at that time.", code="overlaps_your_appointment"
        )
    return None


async def flush_booking(db: AsyncSession) -> None:
    """Flush an appointment's time; the database's constraints decide conflicts. No savepoint:
    a refusal ends the request, and its transaction rolls back."""
    try:
        await db.flush()
    except IntegrityError as exc:
        conflict = _constraint_error(exc)
        if conflict is None:
            raise
        raise conflict from exc


async def book(
    db: AsyncSession,
    settings: Settings,
    keyring: Keyring,
    actor: Actor,
    body: BookIn,
    *,
    idempotency_key: str | None,
    context: RequestContext = SYSTEM,
) -> Booked:
    from carebridge.payments import service as payments  # payments reads appointments

    await _lock_patient(db, actor.id)
    if idempotency_key is not None:
        replayed = await _replay(db, keyring, actor, idempotency_key, body)
        if replayed is not None:
            return replayed
    doctor = (
        await db.execute(
            listed_doctors()
            .add_columns(DoctorProfile.consultation_fee, DoctorProfile.currency)
            .where(DoctorProfile.user_id == body.doctor_id)
        )
    ).one_or_none()
    if doctor is None:
        raise NotFound("No such doctor.")
    await _check_cap(db, settings, actor)
    await expire_holds(db, settings, doctor_id=body.doctor_id)
    starts_at, ends_at, blocked_until, zone = await check_slot(
        db, body.doctor_id, body.type, body.starts_at
    )
    fee = doctor.consultation_fee or 0
    paid_online = settings.payment_provider != "offline" and fee > 0
    now = datetime.now(UTC)
    row = Appointment(
        id=uuid.uuid4(),
        doctor_id=body.doctor_id,
        patient_id=actor.id,
        type=str(body.type),
        status=str(
            AppointmentStatus.pending_payment if paid_online else AppointmentStatus.scheduled
        ),
        starts_at=starts_at,
        ends_at=ends_at,
        blocked_until=blocked_until,
        time_zone=zone,
        hold_expires_at=now + timedelta(minutes=settings.payment_hold_minutes)
        if paid_online
        else None,
        fee=fee,
        currency=doctor.currency,
        idempotency_key=idempotency_key,
        request_hash=_request_hash(body) if idempotency_key else None,
        confirmed_at=None if paid_online else now,
        created_at=now,
    )
    if body.reason:
        row.reason_sealed = keyring.encrypt(body.reason.encode(), _aad(row.id))
    db.add(row)
    await flush_booking(db)
    await payments.on_booked(db, settings, row)
    await plan_reminders(db, settings, row, fresh=True)
    await audit(db, actor, row, "appointment.booked", context)
    people = await people_of(db, row)
    await tell(db, row, row.doctor_id, "New appointment", "booked with you", people)
    # The answer echoes what the patient sent: no read of stored health data.
    out = _out(row, people[row.doctor_id].name, people[row.patient_id].name, body.reason)
    return Booked(out, created=True)
