"""Scheduling pages: the doctor's schedule editor, exceptions and calendar; the patient's booking
from a doctor's page, their appointments (cancel, reschedule, add to calendar); one page per
appointment (where notifications link). Forms post to the same services as the API.

Times are shown in the reader's zone: patients in their account's zone, doctors in their
schedule's zone; the zone is stated on every page that lists times.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import Response

from carebridge.accounts.actors import Actor, Keys
from carebridge.accounts.models import Role
from carebridge.config import Settings
from carebridge.directory import service as directory
from carebridge.platform.context import Context
from carebridge.platform.db import undo_unless_kept
from carebridge.platform.deps import RuntimeDep, Session
from carebridge.platform.downloads import file_response
from carebridge.platform.errors import CareBridgeError, Invalid, NotFound
from carebridge.platform.pagination import MAX_PAGE_SIZE
from carebridge.platform.times import local_time
from carebridge.scheduling import calendar, lifecycle, schedules, service
from carebridge.scheduling.models import AppointmentStatus, AppointmentType
from carebridge.scheduling.schemas import (
    AppointmentOut,
    BookIn,
    ExceptionIn,
    ScheduleIn,
    ScheduleOut,
    SlotOut,
)
from carebridge.web.calendar_range import calendar_range
from carebridge.web.callers import WebDoctor, WebPatient, WebUser
from carebridge.web.forms import FormLanguage, Label, filled
from carebridge.web.pages import clinic_currency, redirect, render
from carebridge.web.session import Csrf

router = APIRouter(include_in_schema=False)

BOOKING_DAYS = 14
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
TYPE_NAMES = {
    AppointmentType.video: "Video call",
    AppointmentType.in_person: "Visit at the clinic",
    AppointmentType.chat: "Chat",
}
# What the editor offers for a type the doctor does not offer yet.
TYPE_DEFAULTS = {
    AppointmentType.video: (30, 0),
    AppointmentType.in_person: (45, 15),
    AppointmentType.chat: (15, 0),
}
STATUS_NAMES = {
    AppointmentStatus.pending_payment: "awaiting payment",
    AppointmentStatus.scheduled: "scheduled",
    AppointmentStatus.in_progress: "in progress",
    AppointmentStatus.completed: "completed",
    AppointmentStatus.cancelled: "cancelled",
    AppointmentStatus.no_show: "missed",
}
DOCTOR_MOVES = ("confirm", "start", "complete", "no_show")
DONE = {
    "confirm": "Appointment confirmed.",
    "start": "Appointment started.",
    "complete": "Appointment completed.",
    "no_show": "Marked as missed.",
    "cancel": "Appointment cancelled.",
    "reschedule": "Appointment moved.",
    "booked": "Booked. We sent you the details.",
}
_ZONES = sorted(available_timezones())


# -- formatting -----------------------------------------------------------------------------------


def local(at: datetime, zone: str) -> datetime:
    return at.astimezone(ZoneInfo(zone))


def hhmm(at: datetime, zone: str) -> str:
    return local(at, zone).strftime("%H:%M")


def day_name(day: date) -> str:
    return f"{WEEKDAYS[day.weekday()]} {day.day} {day.strftime('%B')}"


def short_day(at: datetime, zone: str) -> str:
    return local(at, zone).strftime("%a %d %b")


def when(at: datetime, zone: str) -> str:
    return local_time(at, zone)


def iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _helpers(**values: Any) -> dict[str, Any]:
    return {
        "hhmm": hhmm,
        "when": when,
        "short_day": short_day,
        "day_name": day_name,
        "iso": iso,
        "type_names": {str(k): v for k, v in TYPE_NAMES.items()},
        "status_names": {str(k): v for k, v in STATUS_NAMES.items()},
        **values,
    }


def _moves(
    request: Request, actor: Actor, now: datetime
) -> Callable[[AppointmentOut], dict[str, datetime | None]]:
    """For the action buttons: the moves the service allows ``actor`` now on an appointment, or
    when they open (``lifecycle.moves_now``, the rule ``lifecycle.act`` refuses by)."""
    settings: Settings = request.app.state.runtime.settings
    return lambda appointment: lifecycle.moves_now(settings, actor, appointment, now)


def by_local_day(
    items: Iterable[Any], zone: str, at: str = "starts_at"
) -> list[tuple[date, list[Any]]]:
    """Items (in time order) grouped by the local date of their ``at`` instant."""
    days: dict[date, list[Any]] = {}
    for item in items:
        days.setdefault(local(getattr(item, at), zone).date(), []).append(item)
    return list(days.items())


# The forms' words for their fields. The schedule editor's rows: "Weekly hours, row 2"; its
# appointment types by name ("Video call, Length: at least 5 minutes").
SCHEDULE = FormLanguage(
    {
        "booking_horizon_days": Label("Booking horizon", "days"),
        "min_notice_minutes": Label("Booking notice", "minutes"),
        "windows": "Weekly hours",
        "windows.*": "Weekly hours, row {n}",
        "weekday": "Day",
        "starts": "From",
        "ends": "To",
        "types": "Appointment types",
        "types.*": "{n}",
        "duration_minutes": Label("Length", "minutes"),
        "buffer_minutes": Label("Pause after", "minutes"),
    }
)
BOOKING = FormLanguage(
    {"type": "Type of appointment", "starts_at": "Time", "reason": "Reason for the visit"}
)


# -- the doctor's schedule ------------------------------------------------------------------------


@dataclass
class TypeRow:
    type: str
    name: str
    offered: bool
    duration: str
    buffer: str


@dataclass
class ScheduleForm:
    time_zone: str
    booking_horizon_days: str
    min_notice_minutes: str
    windows: list[dict[str, str]]
    types: list[TypeRow]
    bad_rows: set[int] = field(default_factory=set)


def _form_of(schedule: ScheduleOut) -> ScheduleForm:
    offered = {t.type: t for t in schedule.types}
    rows = []
    for kind, name in TYPE_NAMES.items():
        found = offered.get(kind)
        duration, buffer = (
            (found.duration_minutes, found.buffer_minutes) if found else TYPE_DEFAULTS[kind]
        )
        rows.append(TypeRow(str(kind), name, found is not None, str(duration), str(buffer)))
    return ScheduleForm(
        time_zone=schedule.time_zone,
        booking_horizon_days=str(schedule.booking_horizon_days),
        min_notice_minutes=str(schedule.min_notice_minutes),
        windows=[
            {
                "weekday": str(w.weekday),
                "starts": w.starts.strftime("%H:%M"),
                "ends": w.ends.strftime("%H:%M"),
            }
            for w in schedule.windows
        ],
        types=rows,
    )


def _posted_form(form: FormData) -> ScheduleForm:
    def text(name: str) -> str:
        return str(form.get(name, "")).strip()

    windows = [
        {"weekday": str(w).strip(), "starts": str(s).strip(), "ends": str(e).strip()}
        for w, s, e in zip(
            form.getlist("window_weekday"),
            form.getlist("window_starts"),
            form.getlist("window_ends"),
            strict=False,
        )
    ]
    return ScheduleForm(
        time_zone=text("time_zone"),
        booking_horizon_days=text("booking_horizon_days"),
        min_notice_minutes=text("min_notice_minutes"),
        # A row with neither time is an empty row (or one the doctor cleared): not a window.
        windows=[w for w in windows if w["starts"] or w["ends"]],
        types=[
            TypeRow(
                str(kind),
                name,
                form.get(f"offer_{kind}") is not None,
                text(f"{kind}_duration"),
                text(f"{kind}_buffer"),
            )
            for kind, name in TYPE_NAMES.items()
        ],
    )


def _schedule_in(form: ScheduleForm) -> ScheduleIn:
    return ScheduleIn.model_validate(
        {
            "time_zone": form.time_zone,
            "booking_horizon_days": form.booking_horizon_days or 60,
            "min_notice_minutes": form.min_notice_minutes or 0,
            "windows": form.windows,
            "types": [
                {
                    "type": t.type,
                    "duration_minutes": t.duration,
                    "buffer_minutes": t.buffer or 0,
                }
                for t in form.types
                if t.offered
            ],
        }
    )


async def _schedule_page(
    request: Request,
    actor: Actor,
    db: Session,
    form: ScheduleForm | None = None,
    status_code: int = 200,
    **values: Any,
) -> Response:
    schedule = await schedules.get_schedule(db, actor)
    exceptions = await schedules.list_exceptions(db, actor)
    return render(
        request,
        "scheduling/schedule.html",
        actor,
        status_code=status_code,
        form=form or _form_of(schedule),
        saved=schedule.updated_at is not None,
        zone=schedule.time_zone,
        exceptions=exceptions,
        weekdays=WEEKDAYS,
        zones=_ZONES,
        **_helpers(**values),
    )


@router.get("/doctor/schedule")
async def schedule_page(request: Request, actor: WebDoctor, db: Session) -> Response:
    saved = request.query_params.get("saved")
    notice = {"1": "Schedule saved.", "exception": "Added.", "deleted": "Removed."}.get(saved or "")
    return await _schedule_page(request, actor, db, notice=notice)


@router.post("/doctor/schedule", dependencies=[Csrf])
async def save_schedule(request: Request, actor: WebDoctor, db: Session) -> Response:
    form = _posted_form(await request.form())
    try:
        await schedules.put_schedule(db, actor, _schedule_in(form))
    except (CareBridgeError, ValidationError) as exc:
        await undo_unless_kept(db, exc)
        if isinstance(exc, ValidationError):
            form.bad_rows = {
                int(e["loc"][1])
                for e in exc.errors()
                if len(e["loc"]) > 1 and e["loc"][0] == "windows" and isinstance(e["loc"][1], int)
            }
        offered = {"types": [t.name for t in form.types if t.offered]}
        message = SCHEDULE.explain(exc, rows=offered)
        return await _schedule_page(
            request, actor, db, form, 422, schedule_error=message, error=None
        )
    return redirect("/doctor/schedule?saved=1")


@router.post("/doctor/schedule/exceptions", dependencies=[Csrf])
async def add_exception(request: Request, actor: WebDoctor, db: Session) -> Response:
    form = await request.form()
    values = {k: str(form.get(k, "")).strip() for k in ("kind", "date", "starts", "ends", "note")}
    try:
        body = ExceptionIn.model_validate({k: v for k, v in values.items() if v})
        await schedules.add_exception(db, actor, body)
    except (CareBridgeError, ValidationError) as exc:
        await undo_unless_kept(db, exc)
        return await _schedule_page(
            request,
            actor,
            db,
            None,
            422,
            exception_error=SCHEDULE.explain(exc),
            exception_form=values,
        )
    return redirect("/doctor/schedule?saved=exception#exceptions")


@router.post("/doctor/schedule/exceptions/{exception_id}/delete", dependencies=[Csrf])
async def delete_exception(
    request: Request, exception_id: uuid.UUID, actor: WebDoctor, db: Session
) -> Response:
    await schedules.delete_exception(db, actor, exception_id)
    return redirect("/doctor/schedule?saved=deleted#exceptions")


# -- the doctor's calendar ------------------------------------------------------------------------


async def _all_appointments(
    db: Session, actor: Actor, start: datetime | None, end: datetime | None, most: int = 500
) -> list[AppointmentOut]:
    found: list[AppointmentOut] = []
    cursor: str | None = None
    while len(found) < most:
        page = await service.list_appointments(
            db, actor, status=None, start=start, end=end, cursor=cursor, limit=MAX_PAGE_SIZE
        )
        found += page.items
        cursor = page.next_cursor
        if cursor is None:
            break
    return found


async def _calendar_page(
    request: Request,
    actor: Actor,
    db: Session,
    status_code: int = 200,
    **values: Any,
) -> Response:
    """The range the address names (this week and the next after a form's POST)."""
    zone = await schedules.reader_zone(db, actor)
    today = datetime.now(UTC).astimezone(ZoneInfo(zone)).date()
    query = request.query_params
    try:
        shown = calendar_range(today, query.get("week"), query.get("month"))
    except Invalid as exc:
        shown, status_code = calendar_range(today, None, None), exc.status
        values["error"] = exc.detail

    def midnight(day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=ZoneInfo(zone))

    sections = []
    for section in shown.sections:
        start, end = midnight(section.first), midnight(section.last + timedelta(days=1))
        items = await _all_appointments(db, actor, start, end, most=2000)
        sections.append((section, by_local_day(items, zone)))
    return render(
        request,
        "scheduling/calendar.html",
        actor,
        status_code=status_code,
        zone=zone,
        today=today,
        shown=shown,
        sections=sections,
        now=datetime.now(UTC),
        moves=_moves(request, actor, datetime.now(UTC)),
        **_helpers(**values),
    )


@router.get("/doctor/appointments")
async def calendar_page(request: Request, actor: WebDoctor, db: Session) -> Response:
    """Two weeks from a Monday (``?week=YYYY-MM-DD``, default this week) or a month
    (``?month=YYYY-MM``), with links to the ranges before and after."""
    return await _calendar_page(
        request, actor, db, notice=DONE.get(request.query_params.get("done") or "")
    )


# -- booking (patients) ---------------------------------------------------------------------------


async def _offered(db: Session, doctor_id: uuid.UUID) -> list[tuple[AppointmentType, int]]:
    """The types a doctor offers, with their length in minutes."""
    offered = []
    for kind in TYPE_NAMES:
        found = await schedules.rules_of(db, doctor_id, kind)
        if found is not None:
            offered.append((kind, int(found[1].duration.total_seconds() // 60)))
    return offered


async def _open_slots(
    db: Session, doctor_id: uuid.UUID, kind: AppointmentType
) -> Sequence[SlotOut]:
    now = datetime.now(UTC)
    found = await schedules.open_slots(db, doctor_id, now, now + timedelta(days=BOOKING_DAYS), kind)
    return found.slots


def _kind(value: str | None, offered: Sequence[tuple[AppointmentType, int]]) -> AppointmentType:
    kinds = [k for k, _ in offered]
    try:
        chosen = AppointmentType(value or "")
    except ValueError:
        return kinds[0] if kinds else AppointmentType.video
    return chosen if chosen in kinds or not kinds else kinds[0]


async def _booking_page(
    request: Request,
    actor: Actor,
    db: Session,
    doctor_id: uuid.UUID,
    kind_name: str | None,
    status_code: int = 200,
    **values: Any,
) -> Response:
    doctor = await directory.get_doctor(db, doctor_id, clinic_currency(request))
    offered = await _offered(db, doctor_id)
    kind = _kind(kind_name, offered)
    slots = await _open_slots(db, doctor_id, kind) if offered else []
    zone = await schedules.reader_zone(db, actor)
    return render(
        request,
        "scheduling/book.html",
        actor,
        status_code=status_code,
        doctor=doctor,
        offered=offered,
        kind=str(kind),
        days=by_local_day(slots, zone),
        zone=zone,
        booking_days=BOOKING_DAYS,
        **_helpers(**values),
    )


@router.get("/doctors/{doctor_id}/book")
async def booking_page(
    request: Request, doctor_id: uuid.UUID, actor: WebPatient, db: Session
) -> Response:
    """The doctor's open slots for one type, by day in the patient's zone."""
    return await _booking_page(request, actor, db, doctor_id, request.query_params.get("type"))


def _slot_time(value: str | None) -> datetime:
    try:
        at = datetime.fromisoformat(value or "")
    except ValueError as exc:
        raise Invalid("Pick a time from the list.", code="not_a_slot") from exc
    if at.tzinfo is None:
        raise Invalid("Pick a time from the list.", code="not_a_slot")
    return at


async def _confirm_page(
    request: Request,
    actor: Actor,
    db: Session,
    doctor_id: uuid.UUID,
    kind: AppointmentType,
    at: datetime,
    status_code: int = 200,
    **values: Any,
) -> Response:
    doctor = await directory.get_doctor(db, doctor_id, clinic_currency(request))
    starts_at, ends_at, _blocked, doctor_zone = await service.check_slot(db, doctor_id, kind, at)
    return render(
        request,
        "scheduling/confirm.html",
        actor,
        status_code=status_code,
        doctor=doctor,
        kind=str(kind),
        starts_at=starts_at,
        ends_at=ends_at,
        zone=await schedules.reader_zone(db, actor),
        doctor_zone=doctor_zone,
        idempotency_key=str(uuid.uuid4()),
        **_helpers(**values),
    )


@router.get("/doctors/{doctor_id}/book/confirm")
async def confirm_page(
    request: Request, doctor_id: uuid.UUID, actor: WebPatient, db: Session
) -> Response:
    """The slot picked, to confirm with a reason; a slot gone meanwhile sends back to the list."""
    kind_name = request.query_params.get("type")
    try:
        kind = AppointmentType(kind_name or "")
        at = _slot_time(request.query_params.get("at"))
        return await _confirm_page(request, actor, db, doctor_id, kind, at)
    except (CareBridgeError, ValueError) as exc:
        if isinstance(exc, NotFound):
            raise
        message = exc.detail if isinstance(exc, CareBridgeError) else "Pick a type."
        return await _booking_page(
            request, actor, db, doctor_id, kind_name, _status(exc), error=message
        )


def _status(exc: Exception) -> int:
    return exc.status if isinstance(exc, CareBridgeError) else 422


@router.post("/doctors/{doctor_id}/book", dependencies=[Csrf])
async def book(
    request: Request,
    doctor_id: uuid.UUID,
    actor: WebPatient,
    db: Session,
    runtime: RuntimeDep,
    keys: Keys,
    context: Context,
) -> Response:
    form = await request.form()
    kind_name = str(form.get("type", ""))
    key = str(form.get("idempotency_key", "")).strip()[:200] or None
    try:
        body = BookIn.model_validate(
            {
                "doctor_id": doctor_id,
                **filled(type=kind_name, starts_at=str(form.get("starts_at", ""))),
                "reason": str(form.get("reason", "")).strip() or None,
            }
        )
        booked = await service.book(
            db, runtime.settings, keys.keyring, actor, body, idempotency_key=key, context=context
        )
    except (CareBridgeError, ValidationError) as exc:
        await undo_unless_kept(db, exc)
        if isinstance(exc, NotFound):
            raise
        # Taken, no longer a slot, too many: the list again, as it is now.
        return await _booking_page(
            request, actor, db, doctor_id, kind_name, _status(exc), error=BOOKING.explain(exc)
        )
    return redirect(f"/appointments/{booked.appointment.id}?done=booked")


# -- appointments ---------------------------------------------------------------------------------


async def _list_page(
    request: Request, actor: Actor, db: Session, status_code: int = 200, **values: Any
) -> Response:
    now = datetime.now(UTC)
    zone = await schedules.reader_zone(db, actor)
    upcoming = await service.list_upcoming(db, actor, now=now, limit=MAX_PAGE_SIZE)
    year = await _all_appointments(db, actor, now - timedelta(days=365), None, most=700)
    running = [a for a in year if a.status == AppointmentStatus.in_progress]
    listed = {a.id for a in upcoming} | {a.id for a in running}
    return render(
        request,
        "scheduling/appointments.html",
        actor,
        status_code=status_code,
        zone=zone,
        running=running,
        upcoming=upcoming,
        past=[a for a in reversed(year) if a.id not in listed],
        now=now,
        moves=_moves(request, actor, now),
        **_helpers(**values),
    )


@router.get("/appointments")
async def appointments_page(request: Request, actor: WebUser, db: Session) -> Response:
    """Your appointments: any in progress; upcoming (scheduled or held, not ended) soonest
    first; then the others of the last year (past, completed, cancelled), latest first."""
    return await _list_page(
        request, actor, db, notice=DONE.get(request.query_params.get("done") or "")
    )


async def _appointment_page(
    request: Request,
    actor: Actor,
    db: Session,
    keys: Keys,
    context: Context,
    appointment_id: uuid.UUID,
    status_code: int = 200,
    **values: Any,
) -> Response:
    appointment = await service.read(db, keys.keyring, actor, appointment_id, context)
    now = datetime.now(UTC)
    return render(
        request,
        "scheduling/appointment.html",
        actor,
        status_code=status_code,
        a=appointment,
        zone=await schedules.reader_zone(db, actor),
        now=now,
        moves=_moves(request, actor, now),
        **_helpers(**values),
    )


@router.get("/appointments/{appointment_id}")
async def appointment_page(
    request: Request,
    appointment_id: uuid.UUID,
    actor: WebUser,
    db: Session,
    keys: Keys,
    context: Context,
) -> Response:
    """One appointment with the reason for the visit (the read is audited); others' are 404."""
    notice = DONE.get(request.query_params.get("done") or "")
    return await _appointment_page(request, actor, db, keys, context, appointment_id, notice=notice)


@router.get("/appointments/{appointment_id}/calendar.ics")
async def appointment_ics(
    appointment_id: uuid.UUID, actor: WebUser, db: Session, runtime: RuntimeDep
) -> Response:
    """The appointment as an iCalendar file (no reason for the visit in it)."""
    body = await calendar.appointment_ical(db, runtime.settings, actor, appointment_id)
    return file_response(
        body, calendar.MEDIA_TYPE, f"appointment-{appointment_id}.ics", cache="private, no-cache"
    )


_BACK = {"calendar": "/doctor/appointments", "list": "/appointments"}


@router.post("/appointments/{appointment_id}/act", dependencies=[Csrf])
async def act(
    request: Request,
    appointment_id: uuid.UUID,
    actor: WebUser,
    db: Session,
    runtime: RuntimeDep,
    keys: Keys,
    context: Context,
) -> Response:
    """Confirm, start, complete, mark missed or cancel; back to the page it came from."""
    form = await request.form()
    move = str(form.get("move", ""))
    back = str(form.get("back", ""))
    reason = str(form.get("reason", "")).strip()[:500] or None
    try:
        if move not in (*DOCTOR_MOVES, "cancel"):
            raise Invalid("Unknown action.", code="unknown_action")
        await lifecycle.act(
            db,
            runtime.settings,
            keys.keyring,
            actor,
            appointment_id,
            move,
            reason=reason,
            context=context,
        )
    except CareBridgeError as exc:
        await undo_unless_kept(db, exc)
        if isinstance(exc, NotFound):
            raise
        if back == "calendar" and actor.role == Role.doctor:
            return await _calendar_page(request, actor, db, exc.status, error=exc.detail)
        if back == "list":
            return await _list_page(request, actor, db, exc.status, error=exc.detail)
        return await _appointment_page(
            request, actor, db, keys, context, appointment_id, exc.status, error=exc.detail
        )
    target = _BACK.get(back, f"/appointments/{appointment_id}")
    return redirect(f"{target}?done={move}")


async def _reschedule_page(
    request: Request,
    actor: Actor,
    db: Session,
    appointment_id: uuid.UUID,
    status_code: int = 200,
    **values: Any,
) -> Response:
    row = await service.get_appointment(db, actor, appointment_id)
    kind = AppointmentType(row.type)
    doctor = await directory.get_doctor(db, row.doctor_id, clinic_currency(request))
    zone = await schedules.reader_zone(db, actor)
    slots = await _open_slots(db, row.doctor_id, kind)
    return render(
        request,
        "scheduling/reschedule.html",
        actor,
        status_code=status_code,
        appointment=row,
        doctor=doctor,
        kind=str(kind),
        zone=zone,
        days=by_local_day(slots, zone),
        booking_days=BOOKING_DAYS,
        **_helpers(**values),
    )


@router.get("/appointments/{appointment_id}/reschedule")
async def reschedule_page(
    request: Request, appointment_id: uuid.UUID, actor: WebPatient, db: Session
) -> Response:
    return await _reschedule_page(request, actor, db, appointment_id)


@router.post("/appointments/{appointment_id}/reschedule", dependencies=[Csrf])
async def reschedule(
    request: Request,
    appointment_id: uuid.UUID,
    actor: WebPatient,
    db: Session,
    runtime: RuntimeDep,
    keys: Keys,
    context: Context,
) -> Response:
    form = await request.form()
    try:
        at = _slot_time(str(form.get("starts_at", "")))
        await lifecycle.reschedule(
            db, runtime.settings, keys.keyring, actor, appointment_id, at, context
        )
    except CareBridgeError as exc:
        await undo_unless_kept(db, exc)
        if isinstance(exc, NotFound):
            raise
        return await _reschedule_page(
            request, actor, db, appointment_id, exc.status, error=exc.detail
        )
    return redirect(f"/appointments/{appointment_id}?done=reschedule")
