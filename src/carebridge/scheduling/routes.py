"""Scheduling API: a doctor's schedule and exceptions, open slots, booking and the lifecycle of
appointments."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from carebridge.accounts.actors import Actor, AnyUser, DoctorActor, PatientActor
from carebridge.accounts.api_keys import ApiClient, ApiKeyOr, ApiKeyScope
from carebridge.platform.deps import Scope, Session
from carebridge.platform.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    RateLimited,
    Unauthenticated,
)
from carebridge.platform.inputs import Instant
from carebridge.platform.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from carebridge.platform.problems import problem_responses
from carebridge.scheduling import lifecycle, schedules, service
from carebridge.scheduling.models import AppointmentStatus, AppointmentType
from carebridge.scheduling.schemas import (
    AppointmentOut,
    AppointmentPage,
    BookIn,
    CancelIn,
    ExceptionIn,
    ExceptionOut,
    RescheduleIn,
    ScheduleIn,
    ScheduleOut,
    SlotsOut,
)

router = APIRouter(tags=["scheduling"])
# A signed-in user, or an integration's API key holding appointments:read.
UserOrAppointmentsReader = Annotated[
    Actor | ApiClient, ApiKeyOr(AnyUser, scope=ApiKeyScope.appointments_read)
]
_MOVE = problem_responses(Unauthenticated, Forbidden, NotFound, Conflict)


@router.get("/doctors/me/schedule", response_model=ScheduleOut)
async def my_schedule(actor: DoctorActor, db: Session) -> ScheduleOut:
    """Your weekly availability and appointment types (empty until you set them)."""
    return await schedules.get_schedule(db, actor)


@router.put(
    "/doctors/me/schedule",
    response_model=ScheduleOut,
    responses=problem_responses(Unauthenticated, Forbidden, Invalid),
)
async def set_my_schedule(body: ScheduleIn, actor: DoctorActor, db: Session) -> ScheduleOut:
    """Replace your weekly windows (local wall-clock times in `time_zone`, several per day
    allowed, not overlapping) and the types you offer with their length and the pause after
    each. A 09:00 window stays 09:00 local across daylight-saving changes. Booked appointments
    are kept."""
    return await schedules.put_schedule(db, actor, body)


@router.get("/doctors/me/exceptions", response_model=list[ExceptionOut])
async def my_exceptions(actor: DoctorActor, db: Session) -> list[ExceptionOut]:
    """Your time off and extra hours that have not ended yet."""
    return await schedules.list_exceptions(db, actor)


@router.post(
    "/doctors/me/exceptions",
    status_code=201,
    response_model=ExceptionOut,
    responses=problem_responses(Unauthenticated, Forbidden, Invalid),
)
async def add_my_exception(body: ExceptionIn, actor: DoctorActor, db: Session) -> ExceptionOut:
    """Take time off (a whole local day, or `starts`-`ends`) or add extra hours on a date.
    Appointments already booked in time off stay booked: cancel them if needed. Codes:
    `no_schedule`, `in_the_past`."""
    return await schedules.add_exception(db, actor, body)


@router.delete(
    "/doctors/me/exceptions/{exception_id}",
    status_code=204,
    responses=problem_responses(Unauthenticated, Forbidden, NotFound),
)
async def delete_my_exception(exception_id: uuid.UUID, actor: DoctorActor, db: Session) -> Response:
    """Remove one of your exceptions."""
    await schedules.delete_exception(db, actor, exception_id)
    return Response(status_code=204)


@router.get(
    "/doctors/{doctor_id}/slots",
    response_model=SlotsOut,
    responses=problem_responses(Unauthenticated, Forbidden, NotFound, Invalid, RateLimited),
)
async def doctor_slots(
    doctor_id: uuid.UUID,
    actor: UserOrAppointmentsReader,
    db: Session,
    type: AppointmentType = AppointmentType.video,
    start: Annotated[Instant | None, Query(alias="from")] = None,
    end: Annotated[Instant | None, Query(alias="to")] = None,
) -> SlotsOut:
    """Open slots of a doctor for one appointment type, starting in [`from`, `to`) (default: the
    next 7 days; at most 31 days), in UTC with the doctor's time zone. Open to API keys with
    `appointments:read`."""
    start = start or datetime.now(UTC)
    end = end or start + timedelta(days=7)
    return await schedules.open_slots(db, doctor_id, start, end, type)


@router.post(
    "/appointments",
    status_code=201,
    response_model=AppointmentOut,
    responses=problem_responses(Unauthenticated, Forbidden, NotFound, Conflict, Invalid),
)
async def book_appointment(
    body: BookIn,
    response: Response,
    actor: PatientActor,
    db: Session,
    scope: Scope,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> AppointmentOut:
    """Book an open slot for yourself. With online payment the slot is held for you
    (`pending_payment`, until `hold_expires_at`) until paid; otherwise it is `scheduled` at
    once. Send an `Idempotency-Key` header to retry safely: the same key answers the first
    result (200). Codes: `slot_taken` (409: someone was faster), `overlaps_your_appointment`,
    `too_many_appointments`, `not_a_slot`, `no_such_type`, `idempotency_key_reused`."""
    booked = await service.book(db, scope, actor, body, idempotency_key=idempotency_key)
    if not booked.created:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    return booked.appointment


@router.get(
    "/appointments",
    response_model=AppointmentPage,
    responses=problem_responses(Unauthenticated, Forbidden, Invalid, RateLimited),
)
async def list_appointments(
    actor: UserOrAppointmentsReader,
    db: Session,
    status: AppointmentStatus | None = None,
    start: Annotated[Instant | None, Query(alias="from")] = None,
    end: Annotated[Instant | None, Query(alias="to")] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
) -> AppointmentPage:
    """Your appointments (as patient or doctor; admins see all), soonest first, starting in
    [`from`, `to`). The reason for the visit is only in the single appointment's answer. An
    API key with `appointments:read` (in `X-API-Key`) sees all of the clinic's appointments;
    one without it answers 403 `missing_scope`."""
    page = await service.list_appointments(
        db, actor, status=status, start=start, end=end, cursor=cursor, limit=limit
    )
    return AppointmentPage(items=page.items, next_cursor=page.next_cursor)


@router.get(
    "/appointments/{appointment_id}",
    response_model=AppointmentOut,
    responses=problem_responses(Unauthenticated, NotFound),
)
async def get_appointment(
    appointment_id: uuid.UUID, actor: AnyUser, db: Session, scope: Scope
) -> AppointmentOut:
    """One of your appointments, with the reason for the visit (the read is audited)."""
    return await service.read(db, scope, actor, appointment_id)


@router.post(
    "/appointments/{appointment_id}/cancel", response_model=AppointmentOut, responses=_MOVE
)
async def cancel_appointment(
    appointment_id: uuid.UUID,
    actor: AnyUser,
    db: Session,
    scope: Scope,
    body: CancelIn | None = None,
) -> AppointmentOut:
    """Cancel. Patients: up to the cutoff (24 hours by default) before, refunded if paid.
    Doctors and admins: any time before it starts, with a `reason` for the patient (refunded).
    Codes: `too_late`, `reason_required`, `invalid_transition` (409, with `current_status`)."""
    return await lifecycle.act(
        db, scope, actor, appointment_id, "cancel", reason=body.reason if body else None
    )


@router.post(
    "/appointments/{appointment_id}/reschedule",
    response_model=AppointmentOut,
    responses=problem_responses(Unauthenticated, Forbidden, NotFound, Conflict, Invalid),
)
async def reschedule_appointment(
    appointment_id: uuid.UUID,
    body: RescheduleIn,
    actor: PatientActor,
    db: Session,
    scope: Scope,
) -> AppointmentOut:
    """Move your appointment to another open slot of the same doctor and type, up to the
    cutoff. Codes: `slot_taken`, `not_a_slot`, `too_late`, `invalid_transition`."""
    return await lifecycle.reschedule(db, scope, actor, appointment_id, body.starts_at)


def _doctor_move(name: str, doc: str) -> None:
    async def move(
        appointment_id: uuid.UUID, actor: DoctorActor, db: Session, scope: Scope
    ) -> AppointmentOut:
        return await lifecycle.act(db, scope, actor, appointment_id, name)

    move.__doc__ = doc
    move.__name__ = f"{name}_appointment"
    path = name.replace("_", "-")
    router.add_api_route(
        f"/appointments/{{appointment_id}}/{path}",
        move,
        methods=["POST"],
        response_model=AppointmentOut,
        responses=_MOVE,
    )


_doctor_move(
    "confirm", "Doctor: accept a booking still awaiting payment (to be paid at the clinic)."
)
_doctor_move(
    "start",
    "Doctor: the consultation begins (`scheduled` → `in_progress`), from a few minutes before "
    "its time (10 by default). Earlier: 409 `too_early` with `possible_from`, the instant it "
    "becomes possible (ISO 8601 UTC).",
)
_doctor_move(
    "complete", "Doctor: the consultation is over (`in_progress` → `completed`): once started."
)
_doctor_move(
    "no_show",
    "Doctor: the patient did not come (`scheduled` → `no_show`), from its start plus a grace "
    "(15 minutes by default). Earlier: 409 `too_early` with `possible_from`.",
)
