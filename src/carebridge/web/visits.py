"""Home visit pages of the patient: their visits (``/visits``), the request form with a map
(``/visits/new``: tap the home on the map or use the device's location; a time window in the
patient's zone, turned into UTC here), and a visit's page (``/visits/{id}``: status, timeline,
address, nurse; cancel while the service allows it; the live tracking page while the nurse is
on the way; the signed report's PDF). A visit's page opens for anyone the service lets see the
visit (the dispatcher, the ordering doctor); everyone else gets the 404 page.

Every rule is the service's (``visits/service.py``): the pages pass its answers (``allowed``)
to the templates and show its refusals next to the fields they are about.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from pydantic import ValidationError
from starlette.responses import Response

from carebridge.accounts.actors import Actor
from carebridge.accounts.service import time_zone_of
from carebridge.platform.context import CallScope
from carebridge.platform.deps import Scope, Session
from carebridge.platform.errors import CareBridgeError, Invalid
from carebridge.platform.pagination import MAX_PAGE_SIZE
from carebridge.visits import board, policy, service, states
from carebridge.visits.models import VisitStatus
from carebridge.visits.schemas import TransitionIn, VisitIn
from carebridge.web.callers import WebPatient, WebUser
from carebridge.web.forms import FormLanguage, FormModel, filled
from carebridge.web.pages import redirect, render
from carebridge.web.records import refused
from carebridge.web.session import Csrf
from carebridge.web.visit_common import helpers, map_config, report_pdf, report_photo
from carebridge.web.visit_tracking import map_page

router = APIRouter(include_in_schema=False)

DONE = {
    "requested": "Your request is sent: a dispatcher will assign a nurse and you will be told.",
    "cancelled": "The visit is cancelled.",
}
REQUEST_FORM = FormLanguage(
    {
        "service": "Service",
        "address": "Address",
        "point": "Place on the map",
        "point.lat": "Latitude",
        "point.lng": "Longitude",
        "window_start": "From",
        "window_end": "To",
        "access_notes": "Access notes",
        "reason": "Reason",
    }
)
CANCEL_FORM = FormLanguage({"reason": "Reason"})
# Which field of the form an error is about: by the schema's field, by the service's code.
_FIELD_OF = {
    "service": "service",
    "address": "address",
    "point": "point",
    "window_start": "window",
    "window_end": "window",
    "access_notes": "access_notes",
    "reason": "reason",
}
_FIELD_OF_CODE = {
    "unknown_service": "service",
    "window_order": "window",
    "window_too_long": "window",
    "window_in_past": "window",
    "window_too_far": "window",
    "invalid_window": "window",
}


class RequestForm(FormModel):
    """The request form as posted: the window as a day and two times in the patient's zone."""

    service: str = ""
    address: str = ""
    lat: str = ""
    lng: str = ""
    day: str = ""
    start: str = ""
    end: str = ""
    access_notes: str = ""
    reason: str = ""


class CancelForm(FormModel):
    reason: str = ""


def field_errors(exc: ValidationError | CareBridgeError) -> dict[str, str]:
    """Each refusal next to the field it is about (``""``: about the whole form)."""
    found: dict[str, list[str]] = {}
    if isinstance(exc, ValidationError):
        for error in exc.errors():
            location = [str(part) for part in error.get("loc", ())]
            field = _FIELD_OF.get(location[0], "") if location else ""
            found.setdefault(field, []).append(REQUEST_FORM.message(error, {}))
    else:
        found.setdefault(_FIELD_OF_CODE.get(exc.error_code, ""), []).append(exc.detail)
    return {field: "; ".join(dict.fromkeys(messages)) for field, messages in found.items()}


def window_of(form: RequestForm, zone: str) -> dict[str, datetime]:
    """The window typed (a day, from and to in ``zone``) in UTC; a window ending at or before
    its start is the service's to refuse. Nothing typed: nothing given (the schema says
    "required")."""
    if not (form.day or form.start or form.end):
        return {}
    try:
        day = date.fromisoformat(form.day.strip())
        start, end = time.fromisoformat(form.start.strip()), time.fromisoformat(form.end.strip())
    except ValueError:
        raise Invalid(
            "Give the day (such as 2026-03-29) and both times (such as 09:30).",
            code="invalid_window",
        ) from None
    local = ZoneInfo(zone)
    return {
        "window_start": datetime.combine(day, start, local).astimezone(UTC),
        "window_end": datetime.combine(day, end, local).astimezone(UTC),
    }


def visit_in(form: RequestForm, zone: str) -> VisitIn:
    point = filled(lat=form.lat.strip(), lng=form.lng.strip())
    body: dict[str, Any] = filled(
        service=form.service,
        address=form.address,
        access_notes=form.access_notes.strip(),
        reason=form.reason.strip(),
    )
    if point:
        body["point"] = point
    return VisitIn.model_validate({**body, **window_of(form, zone)})


def blank_form(zone: str) -> RequestForm:
    """Tomorrow morning, as a start the patient changes."""
    tomorrow = datetime.now(ZoneInfo(zone)).date() + timedelta(days=1)
    return RequestForm(day=tomorrow.isoformat(), start="09:00", end="12:00")


async def request_page(
    request: Request,
    actor: Actor,
    db: Session,
    scope: CallScope,
    form: RequestForm | None = None,
    status_code: int = 200,
    **values: Any,
) -> Response:
    zone = await time_zone_of(db, actor.id)
    page = render(
        request,
        "visits/new.html",
        actor,
        status_code=status_code,
        services=service.services(),
        zone=zone,
        form=form or blank_form(zone),
        errors=values.pop("errors", {}),
        map=map_config(scope.settings, await board.service_area(db)),
        **values,
    )
    return map_page(page, scope.settings)


@router.get("/visits")
async def visits_page(
    request: Request, actor: WebPatient, db: Session, scope: Scope, cursor: str | None = None
) -> Response:
    """Your home visits, newest request first, with the button to ask for one."""
    try:
        page = await service.list_visits(
            db, scope, actor, status=None, cursor=cursor, limit=MAX_PAGE_SIZE
        )
    except Invalid:  # a cursor that is not one: the first page
        return redirect("/visits")
    return render(
        request,
        "visits/list.html",
        actor,
        page=page,
        zone=await time_zone_of(db, actor.id),
        notice=DONE.get(request.query_params.get("done") or ""),
        **helpers(),
    )


@router.get("/visits/new")
async def new_visit_page(
    request: Request, actor: WebPatient, db: Session, scope: Scope
) -> Response:
    """The request form: the service, the address and its place on the map, the window."""
    return await request_page(request, actor, db, scope)


@router.post("/visits/new", dependencies=[Csrf])
async def request_visit(
    request: Request,
    actor: WebPatient,
    db: Session,
    scope: Scope,
    form: Annotated[RequestForm, Form()],
) -> Response:
    """The request through ``service.request_visit``; the form again with what to fix."""
    try:
        body = visit_in(form, await time_zone_of(db, actor.id))
        visit = await service.request_visit(db, scope, actor, body)
    except (ValidationError, CareBridgeError) as exc:
        status = await refused(db, exc)
        errors = field_errors(exc)
        general = errors.get("") or "Please check the fields marked below."
        return await request_page(
            request, actor, db, scope, form, status, errors=errors, error=general
        )
    return redirect(f"/visits/{visit.id}?done=requested")


async def detail_page(
    request: Request,
    actor: Actor,
    db: Session,
    scope: CallScope,
    visit_id: uuid.UUID,
    status_code: int = 200,
    **values: Any,
) -> Response:
    visit = await service.get_visit(db, scope, actor, visit_id)
    values.setdefault("notice", DONE.get(request.query_params.get("done") or ""))
    page = render(
        request,
        "visits/detail.html",
        actor,
        status_code=status_code,
        visit=visit,
        zone=await time_zone_of(db, actor.id),
        may_cancel=VisitStatus.cancelled in visit.allowed,
        tracked=visit.status in states.TRACKED
        and policy.may_see_position(actor, await service.find_visit(db, scope, actor, visit_id)),
        report_ready=visit.status == VisitStatus.signed_off,
        map=map_config(scope.settings, visit.point),
        **helpers(**values),
    )
    return map_page(page, scope.settings)


@router.get("/visits/{visit_id}")
async def visit_page(
    request: Request, visit_id: uuid.UUID, actor: WebUser, db: Session, scope: Scope
) -> Response:
    """A visit: its status, the timeline, the address and the nurse; cancel while allowed."""
    return await detail_page(request, actor, db, scope, visit_id)


@router.post("/visits/{visit_id}/cancel", dependencies=[Csrf])
async def cancel_visit(
    request: Request,
    visit_id: uuid.UUID,
    actor: WebUser,
    db: Session,
    scope: Scope,
    form: Annotated[CancelForm, Form()],
) -> Response:
    """Cancel the visit (the patient, the ordering doctor or a dispatcher, until the nurse is at
    the door), with an optional reason."""
    try:
        body = TransitionIn.model_validate(
            filled(to=VisitStatus.cancelled.value, reason=form.reason.strip())
        )
        await service.transition(db, scope, actor, visit_id, body)
    except (ValidationError, CareBridgeError) as exc:
        status = await refused(db, exc)
        error = CANCEL_FORM.explain(exc)
        return await detail_page(request, actor, db, scope, visit_id, status, error=error)
    return redirect(f"/visits/{visit_id}?done=cancelled")


@router.get("/visits/{visit_id}/report.pdf")
async def visit_report_pdf(
    visit_id: uuid.UUID, actor: WebUser, db: Session, scope: Scope
) -> Response:
    """The signed report as a PDF (the patient once signed off, the nurse, the reviewer); each
    download audited by the report's service."""
    await service.find_visit(db, scope, actor, visit_id)  # a visit not theirs: the 404 page
    return await report_pdf(db, scope, actor, visit_id)


@router.get("/visits/{visit_id}/report/photos/{photo_id}")
async def visit_report_photo(
    visit_id: uuid.UUID, photo_id: uuid.UUID, actor: WebUser, db: Session, scope: Scope
) -> Response:
    """A photo of the report, shown on the review page (its readers only)."""
    await service.find_visit(db, scope, actor, visit_id)
    return await report_photo(db, scope, actor, visit_id, photo_id)
