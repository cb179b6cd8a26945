"""The doctor's schedule editor: weekly hours, appointment types, booking rules, and the
exceptions (days off, extra hours)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Annotated, Any
from zoneinfo import available_timezones

from fastapi import APIRouter, Form, Request
from pydantic import ValidationError
from starlette.responses import Response

from carebridge.accounts.actors import Actor
from carebridge.platform.db import undo_unless_kept
from carebridge.platform.deps import Session
from carebridge.platform.errors import CareBridgeError
from carebridge.scheduling import schedules
from carebridge.scheduling.models import AppointmentType
from carebridge.scheduling.schemas import ExceptionIn, ScheduleIn, ScheduleOut
from carebridge.web.callers import WebDoctor
from carebridge.web.forms import FormLanguage, FormModel, Label
from carebridge.web.pages import redirect, render
from carebridge.web.scheduling.common import TYPE_NAMES, WEEKDAYS, helpers
from carebridge.web.session import Csrf

router = APIRouter(include_in_schema=False)


# What the editor offers for a type the doctor does not offer yet.
TYPE_DEFAULTS = {
    AppointmentType.video: (30, 0),
    AppointmentType.in_person: (45, 15),
    AppointmentType.chat: (15, 0),
}


_ZONES = sorted(available_timezones())


# The form's words for its fields: its rows, "Weekly hours, row 2"; its appointment types by
# name ("Video call, Length: at least 5 minutes").
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


class PostedSchedule(FormModel):
    """The editor's form: the rules, one row of weekly hours per three ``window_*`` fields, and
    per appointment type its ``offer_<type>`` checkbox, ``<type>_duration`` and ``_buffer``."""

    time_zone: str = ""
    booking_horizon_days: str = ""
    min_notice_minutes: str = ""
    window_weekday: list[str] = []
    window_starts: list[str] = []
    window_ends: list[str] = []
    offer_video: str | None = None
    video_duration: str = ""
    video_buffer: str = ""
    offer_in_person: str | None = None
    in_person_duration: str = ""
    in_person_buffer: str = ""
    offer_chat: str | None = None
    chat_duration: str = ""
    chat_buffer: str = ""

    def type_row(self, kind: AppointmentType, name: str) -> TypeRow:
        def field(suffix: str) -> str:
            return str(getattr(self, f"{kind}_{suffix}")).strip()

        offered = getattr(self, f"offer_{kind}") is not None
        return TypeRow(str(kind), name, offered, field("duration"), field("buffer"))


def _posted_form(form: PostedSchedule) -> ScheduleForm:
    windows = [
        {"weekday": w.strip(), "starts": s.strip(), "ends": e.strip()}
        for w, s, e in zip(form.window_weekday, form.window_starts, form.window_ends, strict=False)
    ]
    return ScheduleForm(
        time_zone=form.time_zone.strip(),
        booking_horizon_days=form.booking_horizon_days.strip(),
        min_notice_minutes=form.min_notice_minutes.strip(),
        # A row with neither time is an empty row (or one the doctor cleared): not a window.
        windows=[w for w in windows if w["starts"] or w["ends"]],
        types=[form.type_row(kind, name) for kind, name in TYPE_NAMES.items()],
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
        **helpers(**values),
    )


@router.get("/doctor/schedule")
async def schedule_page(request: Request, actor: WebDoctor, db: Session) -> Response:
    saved = request.query_params.get("saved")
    notice = {"1": "Schedule saved.", "exception": "Added.", "deleted": "Removed."}.get(saved or "")
    return await _schedule_page(request, actor, db, notice=notice)


@router.post("/doctor/schedule", dependencies=[Csrf])
async def save_schedule(
    request: Request, actor: WebDoctor, db: Session, posted: Annotated[PostedSchedule, Form()]
) -> Response:
    form = _posted_form(posted)
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


class ExceptionForm(FormModel):
    """Time off or extra hours on one date."""

    kind: str = ""
    date: str = ""
    starts: str = ""
    ends: str = ""
    note: str = ""


@router.post("/doctor/schedule/exceptions", dependencies=[Csrf])
async def add_exception(
    request: Request, actor: WebDoctor, db: Session, form: Annotated[ExceptionForm, Form()]
) -> Response:
    values = {name: str(value).strip() for name, value in form.model_dump().items()}
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
