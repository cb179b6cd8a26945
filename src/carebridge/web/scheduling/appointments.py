"""Appointments: the reader's list, one page per appointment (where notifications link), its
iCalendar file, and the moves (confirm, start, complete, no-show, cancel) posted from them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import Role
from carebridge.messaging import service as messaging
from carebridge.platform.context import CallScope
from carebridge.platform.db import undo_unless_kept
from carebridge.platform.deps import RuntimeDep, Scope, Session
from carebridge.platform.downloads import file_response
from carebridge.platform.errors import CareBridgeError, Invalid, NotFound
from carebridge.platform.pagination import MAX_PAGE_SIZE
from carebridge.prescriptions import policy as prescriptions
from carebridge.records import access as records
from carebridge.reviews import policy as reviews
from carebridge.scheduling import calendar, lifecycle, schedules, service
from carebridge.scheduling.models import AppointmentStatus
from carebridge.video import views as calls
from carebridge.web.callers import WebUser
from carebridge.web.forms import FormModel
from carebridge.web.pages import redirect, render
from carebridge.web.scheduling.calendar import show_calendar
from carebridge.web.scheduling.common import DONE, all_appointments, helpers, moves_of
from carebridge.web.session import Csrf

router = APIRouter(include_in_schema=False)


DOCTOR_MOVES = ("confirm", "start", "complete", "no_show")


async def _list_page(
    request: Request, actor: Actor, db: Session, status_code: int = 200, **values: Any
) -> Response:
    now = datetime.now(UTC)
    zone = await schedules.reader_zone(db, actor)
    upcoming = await service.list_upcoming(db, actor, now=now, limit=MAX_PAGE_SIZE)
    year = await all_appointments(db, actor, now - timedelta(days=365), None, most=700)
    running = [a for a in year if a.status == AppointmentStatus.in_progress]
    listed = {a.id for a in upcoming} | {a.id for a in running}
    settings = request.app.state.runtime.settings
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
        call_links=await calls.call_links(
            db, settings, actor.id, [*listed, *(a.id for a in year)], now
        ),
        invited_calls=await calls.invited_calls(db, settings, actor.id, now),
        moves=moves_of(request, actor, now),
        **helpers(**values),
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
    scope: CallScope,
    appointment_id: uuid.UUID,
    status_code: int = 200,
    **values: Any,
) -> Response:
    appointment = await service.read(db, scope, actor, appointment_id)
    now = datetime.now(UTC)
    host = actor.id == appointment.doctor_id
    return render(
        request,
        "scheduling/appointment.html",
        actor,
        status_code=status_code,
        a=appointment,
        zone=await schedules.reader_zone(db, actor),
        now=now,
        moves=moves_of(request, actor, now),
        reviewable=reviews.reviewable(appointment),
        prescribing_open=prescriptions.prescribing_open(appointment),
        may_prescribe=prescriptions.may_prescribe(actor, appointment),
        conversation=await messaging.conversation_of_appointment(db, actor, appointment_id),
        call_links=await calls.call_links(db, scope.settings, actor.id, [appointment_id], now),
        waiting=await calls.waiting_for(db, actor.id, appointment_id) if host else None,
        call_record=await calls.record_for(db, scope, actor, appointment_id) if host else None,
        record_open=host and await records.may_open(db, scope, actor, appointment.patient_id),
        **helpers(**values),
    )


@router.get("/appointments/{appointment_id}")
async def appointment_page(
    request: Request,
    appointment_id: uuid.UUID,
    actor: WebUser,
    db: Session,
    scope: Scope,
) -> Response:
    """One appointment with the reason for the visit (the read is audited); others' are 404."""
    notice = DONE.get(request.query_params.get("done") or "")
    return await _appointment_page(request, actor, db, scope, appointment_id, notice=notice)


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


class MoveForm(FormModel):
    """A move's button (``move``), the page it came from (``back``) and, for a cancellation,
    the reason."""

    move: str = ""
    back: str = ""
    reason: str = ""


@router.post("/appointments/{appointment_id}/act", dependencies=[Csrf])
async def act(
    request: Request,
    appointment_id: uuid.UUID,
    actor: WebUser,
    db: Session,
    scope: Scope,
    form: Annotated[MoveForm, Form()],
) -> Response:
    """Confirm, start, complete, mark missed or cancel; back to the page it came from."""
    move, back = form.move, form.back
    reason = form.reason.strip()[:500] or None
    try:
        if move not in (*DOCTOR_MOVES, "cancel"):
            raise Invalid("Unknown action.", code="unknown_action")
        await lifecycle.act(db, scope, actor, appointment_id, move, reason=reason)
    except CareBridgeError as exc:
        await undo_unless_kept(db, exc)
        if isinstance(exc, NotFound):
            raise
        if back == "calendar" and actor.role == Role.doctor:
            return await show_calendar(request, actor, db, exc.status, error=exc.detail)
        if back == "list":
            return await _list_page(request, actor, db, exc.status, error=exc.detail)
        return await _appointment_page(
            request, actor, db, scope, appointment_id, exc.status, error=exc.detail
        )
    target = _BACK.get(back, f"/appointments/{appointment_id}")
    return redirect(f"{target}?done={move}")
