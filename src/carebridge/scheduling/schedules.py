"""A doctor's schedule and dated exceptions, and the open slots they give."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, literal, select, text, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts import service as accounts
from carebridge.accounts.actors import Actor
from carebridge.accounts.models import Role
from carebridge.directory.models import DoctorProfile
from carebridge.directory.service import is_listed
from carebridge.platform.errors import Invalid, NotFound
from carebridge.scheduling import slots
from carebridge.scheduling.models import (
    Appointment,
    AppointmentType,
    ExceptionKind,
    Schedule,
    ScheduleException,
    ScheduleWindow,
    TypeSetting,
)
from carebridge.scheduling.queries import holds_time
from carebridge.scheduling.schemas import (
    ExceptionIn,
    ExceptionOut,
    ScheduleIn,
    ScheduleOut,
    SlotOut,
    SlotsOut,
    TypeIn,
    WindowIn,
)

MAX_SLOT_RANGE = timedelta(days=31)
# No appointment holds time for longer (types last at most 8 h plus a 4 h buffer: schemas.TypeIn).
LONGEST_HOLD = timedelta(days=1)
# How far either side of a span its exceptions and held time are read, by the slot list and check
# (``around``) and by booking (``queries.BOOKING_FACTS``) alike.
NEAR = timedelta(days=1)


def near(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The span [start, end) widened by ``NEAR`` on each side."""
    return start - NEAR, end + NEAR


async def get_schedule(db: AsyncSession, actor: Actor) -> ScheduleOut:
    schedule = await db.get(Schedule, actor.id)
    if schedule is None:
        zone = await db.scalar(
            select(DoctorProfile.time_zone).where(DoctorProfile.user_id == actor.id)
        )
        return ScheduleOut(
            doctor_id=actor.id,
            time_zone=zone or "UTC",
            booking_horizon_days=60,
            min_notice_minutes=120,
            windows=[],
            types=[],
            updated_at=None,
        )
    return await _schedule_out(db, schedule)


async def reader_zone(db: AsyncSession, actor: Actor) -> str:
    """Where the reader of appointment times keeps their clock: a doctor in their schedule's
    zone, anyone else in their account's."""
    if actor.role == Role.doctor:
        return (await get_schedule(db, actor)).time_zone
    return await accounts.time_zone_of(db, actor.id)


async def _schedule_out(db: AsyncSession, schedule: Schedule) -> ScheduleOut:
    windows = await db.scalars(
        select(ScheduleWindow)
        .where(ScheduleWindow.doctor_id == schedule.doctor_id)
        .order_by(ScheduleWindow.weekday, ScheduleWindow.starts)
    )
    types = await db.scalars(
        select(TypeSetting)
        .where(TypeSetting.doctor_id == schedule.doctor_id)
        .order_by(TypeSetting.type)
    )
    return ScheduleOut(
        doctor_id=schedule.doctor_id,
        time_zone=schedule.time_zone,
        booking_horizon_days=schedule.booking_horizon_days,
        min_notice_minutes=schedule.min_notice_minutes,
        windows=[WindowIn(weekday=w.weekday, starts=w.starts, ends=w.ends) for w in windows],
        types=[
            TypeIn(
                type=AppointmentType(t.type),
                duration_minutes=t.duration_minutes,
                buffer_minutes=t.buffer_minutes,
            )
            for t in types
        ],
        updated_at=schedule.updated_at,
    )


async def put_schedule(db: AsyncSession, actor: Actor, body: ScheduleIn) -> ScheduleOut:
    """Replace the weekly windows and types. Appointments already booked stay as they are."""
    schedule = await db.get(Schedule, actor.id, with_for_update=True)
    if schedule is None:
        schedule = Schedule(doctor_id=actor.id, time_zone=body.time_zone)
        db.add(schedule)
    schedule.time_zone = body.time_zone
    schedule.booking_horizon_days = body.booking_horizon_days
    schedule.min_notice_minutes = body.min_notice_minutes
    schedule.updated_at = datetime.now(UTC)
    await db.flush()
    await db.execute(delete(ScheduleWindow).where(ScheduleWindow.doctor_id == actor.id))
    await db.execute(delete(TypeSetting).where(TypeSetting.doctor_id == actor.id))
    db.add_all(
        ScheduleWindow(doctor_id=actor.id, weekday=w.weekday, starts=w.starts, ends=w.ends)
        for w in body.windows
    )
    db.add_all(
        TypeSetting(
            doctor_id=actor.id,
            type=str(t.type),
            duration_minutes=t.duration_minutes,
            buffer_minutes=t.buffer_minutes,
        )
        for t in body.types
    )
    await db.flush()
    return await _schedule_out(db, schedule)


# -- exceptions ---------------------------------------------------------------------------------


def _exception_out(row: ScheduleException) -> ExceptionOut:
    return ExceptionOut(
        id=row.id,
        kind=ExceptionKind(row.kind),
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        note=row.note,
    )


async def _own_schedule(db: AsyncSession, actor: Actor) -> Schedule:
    schedule = await db.get(Schedule, actor.id)
    if schedule is None:
        raise Invalid("Set up your weekly schedule first.", code="no_schedule")
    return schedule


def _local_range(day: date, starts: time | None, ends: time | None, zone: str) -> slots.Interval:
    tz = ZoneInfo(zone)
    if starts is None or ends is None:
        return (
            datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC),
            datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC),
        )
    return (
        datetime.combine(day, starts, tzinfo=tz).astimezone(UTC),
        datetime.combine(day, ends, tzinfo=tz).astimezone(UTC),
    )


async def list_exceptions(db: AsyncSession, actor: Actor) -> list[ExceptionOut]:
    """Exceptions that have not ended yet, soonest first."""
    rows = await db.scalars(
        select(ScheduleException)
        .where(
            ScheduleException.doctor_id == actor.id,
            ScheduleException.ends_at > datetime.now(UTC),
        )
        .order_by(ScheduleException.starts_at)
        .limit(500)
    )
    return [_exception_out(r) for r in rows]


async def add_exception(db: AsyncSession, actor: Actor, body: ExceptionIn) -> ExceptionOut:
    schedule = await _own_schedule(db, actor)
    starts_at, ends_at = _local_range(body.date, body.starts, body.ends, schedule.time_zone)
    if ends_at <= datetime.now(UTC):
        raise Invalid("That time is already past.", code="in_the_past")
    row = ScheduleException(
        doctor_id=actor.id,
        kind=str(body.kind),
        starts_at=starts_at,
        ends_at=ends_at,
        note=body.note,
    )
    db.add(row)
    await db.flush()
    return _exception_out(row)


async def delete_exception(db: AsyncSession, actor: Actor, exception_id: uuid.UUID) -> None:
    result = await db.execute(
        delete(ScheduleException)
        .where(ScheduleException.id == exception_id, ScheduleException.doctor_id == actor.id)
        .returning(ScheduleException.id)
    )
    if result.first() is None:
        raise NotFound("No such exception.")


# -- slots ---------------------------------------------------------------------------------------


async def rules_of(
    db: AsyncSession, doctor_id: uuid.UUID, kind: AppointmentType
) -> tuple[Schedule, slots.Rules] | None:
    """The booking rules of a doctor for one type, or None if they do not offer it (one
    statement: the windows come along as an array)."""
    windows = (
        select(
            func.coalesce(
                func.array_agg(
                    func.json_build_array(
                        ScheduleWindow.weekday, ScheduleWindow.starts, ScheduleWindow.ends
                    )
                ),
                text("'{}'::json[]"),
            )
        )
        .where(ScheduleWindow.doctor_id == Schedule.doctor_id)
        .scalar_subquery()
    )
    found = (
        await db.execute(
            select(Schedule, TypeSetting.duration_minutes, TypeSetting.buffer_minutes, windows)
            .join(TypeSetting, TypeSetting.doctor_id == Schedule.doctor_id)
            .where(Schedule.doctor_id == doctor_id, TypeSetting.type == str(kind))
        )
    ).one_or_none()
    if found is None:
        return None
    schedule, duration, buffer, window_rows = found
    return schedule, slots.Rules(
        time_zone=schedule.time_zone,
        windows=[(w[0], time.fromisoformat(w[1]), time.fromisoformat(w[2])) for w in window_rows],
        duration=timedelta(minutes=duration),
        buffer=timedelta(minutes=buffer),
        min_notice=timedelta(minutes=schedule.min_notice_minutes),
        horizon=timedelta(days=schedule.booking_horizon_days),
    )


@dataclass(frozen=True)
class Around:
    """A doctor's calendar near a time range: extra hours, time off, and the time appointments
    hold (start to end plus buffer; ``queries.holds_time`` says which do)."""

    extra: list[slots.Interval]
    time_off: list[slots.Interval]
    held: list[slots.Interval]


async def around(
    db: AsyncSession,
    doctor_id: uuid.UUID,
    start: datetime,
    end: datetime,
    *,
    ignoring: uuid.UUID | None = None,
) -> Around:
    """One statement: exceptions and appointments within a day of [start, end)."""
    since, until = near(start, end)
    exceptions = select(
        ScheduleException.kind, ScheduleException.starts_at, ScheduleException.ends_at
    ).where(
        ScheduleException.doctor_id == doctor_id,
        ScheduleException.starts_at < until,
        ScheduleException.ends_at > since,
    )
    held = select(
        literal("held").label("kind"), Appointment.starts_at, Appointment.blocked_until
    ).where(
        Appointment.doctor_id == doctor_id,
        holds_time(datetime.now(UTC)),
        Appointment.starts_at < until,
        Appointment.blocked_until > since,
        # Bounds the index scan on (doctor, starts_at) to these days, not the doctor's history.
        Appointment.starts_at > since - LONGEST_HOLD,
    )
    if ignoring is not None:
        held = held.where(Appointment.id != ignoring)
    found = Around([], [], [])
    lists = {
        ExceptionKind.extra_hours.value: found.extra,
        ExceptionKind.time_off.value: found.time_off,
        "held": found.held,
    }
    for kind, starts_at, ends_at in (await db.execute(union_all(exceptions, held))).all():
        lists[kind].append((starts_at, ends_at))
    return found


async def compute(
    db: AsyncSession,
    doctor_id: uuid.UUID,
    rules: slots.Rules,
    start: datetime,
    end: datetime,
) -> list[slots.Interval]:
    """Open slots starting in [start, end)."""
    near = await around(db, doctor_id, start, end)
    return slots.open_slots(
        rules,
        start,
        end,
        now=datetime.now(UTC),
        extra=near.extra,
        time_off=near.time_off,
        busy=near.held,
    )


async def open_slots(
    db: AsyncSession,
    doctor_id: uuid.UUID,
    start: datetime,
    end: datetime,
    kind: AppointmentType,
) -> SlotsOut:
    if end <= start:
        raise Invalid("`to` must be after `from`.", code="bad_range")
    if end - start > MAX_SLOT_RANGE:
        raise Invalid("Ask for at most 31 days at a time.", code="range_too_long")
    if not await is_listed(db, doctor_id):
        raise NotFound("No such doctor.")
    found = await rules_of(db, doctor_id, kind)
    if found is None:
        zone = await db.scalar(
            select(DoctorProfile.time_zone).where(DoctorProfile.user_id == doctor_id)
        )
        return SlotsOut(
            doctor_id=doctor_id, time_zone=zone or "UTC", type=kind, duration_minutes=0, slots=[]
        )
    schedule, rules = found
    free = await compute(db, doctor_id, rules, start, end)
    return SlotsOut(
        doctor_id=doctor_id,
        time_zone=schedule.time_zone,
        type=kind,
        duration_minutes=int(rules.duration.total_seconds() // 60),
        slots=[SlotOut(starts_at=s, ends_at=e, type=kind) for s, e in free],
    )
