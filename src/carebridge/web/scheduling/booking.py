"""Booking (patients): a doctor's open slots by day, the slot to confirm with a reason, the
booking itself; and moving a booked appointment to another open slot."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from pydantic import ValidationError
from starlette.responses import Response

from carebridge.accounts.actors import Actor
from carebridge.directory import service as directory
from carebridge.platform.db import undo_unless_kept
from carebridge.platform.deps import Scope, Session
from carebridge.platform.errors import CareBridgeError, Invalid, NotFound
from carebridge.scheduling import lifecycle, schedules, service
from carebridge.scheduling.models import AppointmentType
from carebridge.scheduling.schemas import BookIn, SlotOut
from carebridge.web.callers import WebPatient
from carebridge.web.forms import FormLanguage, FormModel, filled
from carebridge.web.pages import clinic_currency, redirect, render
from carebridge.web.scheduling.common import TYPE_NAMES, by_local_day, helpers, status_of
from carebridge.web.session import Csrf

router = APIRouter(include_in_schema=False)


BOOKING_DAYS = 14


# The booking form's words for its fields.
BOOKING = FormLanguage(
    {"type": "Type of appointment", "starts_at": "Time", "reason": "Reason for the visit"}
)


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
        **helpers(**values),
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
        **helpers(**values),
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
            request, actor, db, doctor_id, kind_name, status_of(exc), error=message
        )


class BookingForm(FormModel):
    """The slot picked (type and start), the reason, and the page's idempotency key."""

    type: str = ""
    starts_at: str = ""
    reason: str = ""
    idempotency_key: str = ""


@router.post("/doctors/{doctor_id}/book", dependencies=[Csrf])
async def book(
    request: Request,
    doctor_id: uuid.UUID,
    actor: WebPatient,
    db: Session,
    scope: Scope,
    form: Annotated[BookingForm, Form()],
) -> Response:
    kind_name = form.type
    key = form.idempotency_key.strip()[:200] or None
    try:
        body = BookIn.model_validate(
            {
                "doctor_id": doctor_id,
                **filled(type=kind_name, starts_at=form.starts_at),
                "reason": form.reason.strip() or None,
            }
        )
        booked = await service.book(db, scope, actor, body, idempotency_key=key)
    except (CareBridgeError, ValidationError) as exc:
        await undo_unless_kept(db, exc)
        if isinstance(exc, NotFound):
            raise
        # Taken, no longer a slot, too many: the list again, as it is now.
        return await _booking_page(
            request, actor, db, doctor_id, kind_name, status_of(exc), error=BOOKING.explain(exc)
        )
    return redirect(f"/appointments/{booked.appointment.id}?done=booked")


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
        **helpers(**values),
    )


@router.get("/appointments/{appointment_id}/reschedule")
async def reschedule_page(
    request: Request, appointment_id: uuid.UUID, actor: WebPatient, db: Session
) -> Response:
    return await _reschedule_page(request, actor, db, appointment_id)


class SlotForm(FormModel):
    """The new slot picked from the list."""

    starts_at: str = ""


@router.post("/appointments/{appointment_id}/reschedule", dependencies=[Csrf])
async def reschedule(
    request: Request,
    appointment_id: uuid.UUID,
    actor: WebPatient,
    db: Session,
    scope: Scope,
    form: Annotated[SlotForm, Form()],
) -> Response:
    try:
        at = _slot_time(form.starts_at)
        await lifecycle.reschedule(db, scope, actor, appointment_id, at)
    except CareBridgeError as exc:
        await undo_unless_kept(db, exc)
        if isinstance(exc, NotFound):
            raise
        return await _reschedule_page(
            request, actor, db, appointment_id, exc.status, error=exc.detail
        )
    return redirect(f"/appointments/{appointment_id}?done=reschedule")
