"""The nurse's pages of home visits, made for a phone held in one hand: "My day"
(``/nurse/visits``: the visits given to them in visit order, numbered on a map, with Accept and
Decline on the assigned ones), the active visit (``/nurse/visits/{visit_id}``: the address,
access notes and patient, big status buttons at the bottom for the moves the service allows now,
and "Share my location", which sends the device's position over the gateway while on the way or
at the door), and the report form (``/nurse/visits/{visit_id}/report``).

Every move goes through ``visits.service.transition``: the buttons shown are the service's
``allowed`` moves, a move refused by a time rule is shown disabled with the rule's own words
(``visits.policy.time_refusal``), and a refusal after all (someone else moved the visit first)
shows the page again with the service's words.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from pydantic import ValidationError
from starlette.responses import JSONResponse, Response

from carebridge.accounts.actors import Actor
from carebridge.accounts.service import time_zone_of
from carebridge.platform.context import CallScope
from carebridge.platform.deps import Scope, Session
from carebridge.platform.errors import CareBridgeError, Invalid
from carebridge.records.vitals import SPECS, Kind
from carebridge.visits import day, policy, report, service, states
from carebridge.visits.models import Visit, VisitStatus
from carebridge.visits.report_schemas import ReportIn, ReportOut
from carebridge.visits.schemas import TransitionIn, VisitDetailOut, VisitOut
from carebridge.visits.states import Door, Party
from carebridge.web.callers import WebNurse
from carebridge.web.forms import FormLanguage, FormModel, filled
from carebridge.web.pages import redirect, render
from carebridge.web.records import refused
from carebridge.web.scheduling.common import hhmm, local, short_day
from carebridge.web.session import Csrf, CsrfHeader
from carebridge.web.visit_tracking import live_data, map_page, tiles_of

router = APIRouter(include_in_schema=False)

# The buttons of the moves a nurse makes, by the status they move the visit to.
MOVE_LABELS: dict[VisitStatus, str] = {
    VisitStatus.accepted: "Accept",
    VisitStatus.en_route: "On my way",
    VisitStatus.arrived: "Arrived",
    VisitStatus.in_progress: "Start the visit",
    VisitStatus.completed: "Complete",
    VisitStatus.no_show: "Nobody answered",
    VisitStatus.requested: "Decline",
}
# Moves that go back or end the visit without care: shown as secondary buttons.
SECONDARY = frozenset({VisitStatus.requested, VisitStatus.no_show})
STATUS_WORDS: dict[str, str] = {
    VisitStatus.assigned: "Assigned to you",
    VisitStatus.accepted: "Accepted",
    VisitStatus.en_route: "On the way",
    VisitStatus.arrived: "At the door",
    VisitStatus.in_progress: "Under way",
    VisitStatus.completed: "Completed",
    VisitStatus.signed_off: "Signed off",
    VisitStatus.cancelled: "Cancelled",
    VisitStatus.no_show: "Nobody answered",
    VisitStatus.requested: "Open",
}
DONE: dict[str, str] = {
    VisitStatus.accepted: "Visit accepted: the patient has been told.",
    VisitStatus.requested: "Visit declined: the dispatchers will find another nurse.",
    VisitStatus.en_route: "On your way: the patient follows you on the map.",
    VisitStatus.arrived: "Arrived: the patient has been told you are at the door.",
    VisitStatus.in_progress: "Visit started.",
    VisitStatus.completed: "Visit complete: write its report.",
    VisitStatus.no_show: "Recorded: nobody answered.",
}
# The statuses in which the report form is open to the nurse.
REPORTING = frozenset({VisitStatus.in_progress, VisitStatus.completed})
MOVE = FormLanguage(
    {"to": "Move", "reason": "Reason", "position.lat": "Latitude", "position.lng": "Longitude"}
)


@dataclass(frozen=True)
class MoveButton:
    """A status button: the move, whether the service allows it now, and why not."""

    target: VisitStatus
    label: str
    enabled: bool
    secondary: bool
    why_not: str | None


def buttons(row: Visit, visit: VisitOut, now: datetime, scope: CallScope) -> list[MoveButton]:
    """The nurse's moves from the visit's status: enabled where the service allows them now,
    disabled with the time rule's words where only the time stands in the way."""
    found = []
    for move in states.moves_from(visit.status):
        if Party.nurse not in move.parties or move.door != Door.transition:
            continue
        enabled = move.target in visit.allowed
        refusal = None if enabled else policy.time_refusal(move, row, now, scope.settings)
        if not enabled and refusal is None:
            continue
        found.append(
            MoveButton(
                target=move.target,
                label=MOVE_LABELS[move.target],
                enabled=enabled,
                secondary=move.target in SECONDARY,
                why_not=None if refusal is None else refusal.detail,
            )
        )
    return found


def _values(zone: str, **values: Any) -> dict[str, Any]:
    return {
        "zone": zone,
        "hhmm": hhmm,
        "short_day": short_day,
        "words": STATUS_WORDS,
        "labels": MOVE_LABELS,
        **values,
    }


def _notice(request: Request) -> str | None:
    return DONE.get(request.query_params.get("done") or "")


# -- My day ---------------------------------------------------------------------------------------


def day_map(visits: list[VisitOut]) -> list[dict[str, Any]]:
    """The numbered points of the day's map (a visit without a point has its number only)."""
    return [
        {
            "number": number,
            "lat": visit.point.lat,
            "lng": visit.point.lng,
            "label": f"{number}. {visit.service.label}, {visit.patient.name}",
            "url": f"/nurse/visits/{visit.id}",
        }
        for number, visit in enumerate(visits, start=1)
        if visit.point is not None
    ]


async def day_page(
    request: Request,
    actor: Actor,
    db: Session,
    scope: CallScope,
    status_code: int = 200,
    **values: Any,
) -> Response:
    now = datetime.now(UTC)
    visits = await day.nurse_day(db, scope, actor, now=now)
    zone = await time_zone_of(db, actor.id)
    today = local(now, zone).date()
    values.setdefault("notice", _notice(request))
    response = render(
        request,
        "visits/nurse_day.html",
        actor,
        status_code=status_code,
        **_values(
            zone,
            visits=visits,
            today=[v for v in visits if local(v.window_start, zone).date() <= today],
            later=[v for v in visits if local(v.window_start, zone).date() > today],
            numbers={visit.id: number for number, visit in enumerate(visits, start=1)},
            data={"points": day_map(visits), "tiles": tiles_of(scope.settings)},
            **values,
        ),
    )
    return map_page(response, scope.settings)


@router.get("/nurse/visits")
async def my_day(request: Request, actor: WebNurse, db: Session, scope: Scope) -> Response:
    """My day: today's and the coming visits, in visit order, on a list and a map."""
    return await day_page(request, actor, db, scope)


# -- the active visit -----------------------------------------------------------------------------


def visit_data(visit: VisitDetailOut, scope: CallScope) -> dict[str, Any]:
    """The live map's data, and how often the page may send a position and from how near the
    home it is offered "Arrived"."""
    return {
        **live_data(visit, scope.settings),
        "interval_seconds": scope.settings.visit_position_seconds,
        "near_metres": scope.settings.visit_arrival_meters,
    }


async def visit_page(
    request: Request,
    actor: Actor,
    db: Session,
    scope: CallScope,
    visit_id: uuid.UUID,
    status_code: int = 200,
    **values: Any,
) -> Response:
    now = datetime.now(UTC)
    row = await service.find_visit(db, scope, actor, visit_id)
    visit = await service.get_visit(db, scope, actor, visit_id, now=now)
    zone = await time_zone_of(db, actor.id)
    values.setdefault("notice", _notice(request))
    response = render(
        request,
        "visits/nurse_visit.html",
        actor,
        status_code=status_code,
        **_values(
            zone,
            visit=visit,
            moves=buttons(row, visit, now, scope),
            tracked=visit.status in states.TRACKED,
            reporting=visit.status in REPORTING,
            data=visit_data(visit, scope),
            **values,
        ),
    )
    return map_page(response, scope.settings)


@router.get("/nurse/visits/{visit_id}")
async def active_visit(
    request: Request, visit_id: uuid.UUID, actor: WebNurse, db: Session, scope: Scope
) -> Response:
    """The visit: where, who, how to get in, and the status buttons."""
    return await visit_page(request, actor, db, scope, visit_id)


class MoveForm(FormModel):
    """A status button's form: the status to move to, a reason (a decline), the position the
    page knows (the arrival's), and the page to go back to (``day`` or the visit's)."""

    to: str = ""
    reason: str = ""
    lat: str = ""
    lng: str = ""
    accuracy_m: str = ""
    back: str = ""


def _transition(form: MoveForm) -> TransitionIn:
    fields: dict[str, Any] = filled(to=form.to.strip(), reason=form.reason.strip())
    if form.lat.strip() and form.lng.strip():
        fields["position"] = {"lat": form.lat.strip(), "lng": form.lng.strip()}
        fields.update(filled(accuracy_m=form.accuracy_m.strip()))
    return TransitionIn.model_validate(fields)


@router.post("/nurse/visits/{visit_id}/moves", dependencies=[Csrf])
async def move_visit(
    request: Request,
    visit_id: uuid.UUID,
    actor: WebNurse,
    db: Session,
    scope: Scope,
    form: Annotated[MoveForm, Form()],
) -> Response:
    """A status button pressed: the move through ``visits.service.transition``; refused, the
    page again with the service's words (someone else's visit: the 404 page)."""
    try:
        body = _transition(form)
        moved = await service.transition(db, scope, actor, visit_id, body)
    except (ValidationError, CareBridgeError) as exc:
        status = await refused(db, exc)
        error = MOVE.explain(exc)
        if form.back == "day":
            return await day_page(request, actor, db, scope, status, error=error)
        return await visit_page(request, actor, db, scope, visit_id, status, error=error)
    done = f"?done={moved.status.value}"
    if form.back == "day" or moved.nurse is None or moved.nurse.id != actor.id:
        return redirect(f"/nurse/visits{done}")
    return redirect(f"/nurse/visits/{visit_id}{done}")


# -- the report -----------------------------------------------------------------------------------

# The kinds a nurse measures at a home visit, in the order the form offers them.
VITALS = (
    Kind.blood_pressure,
    Kind.heart_rate,
    Kind.body_temperature,
    Kind.oxygen_saturation,
    Kind.respiratory_rate,
    Kind.blood_glucose,
    Kind.body_weight,
)
REPORT = FormLanguage(
    {
        "vitals.*": "Reading {n}",
        "vitals.*.kind": "Reading {n}, kind",
        "vitals.*.value": "Reading {n}, value",
        "vitals.*.value2": "Reading {n}, diastolic",
        "vitals.*.unit": "Reading {n}, unit",
        "vitals.*.measured_at": "Reading {n}, measured at",
        "interventions": "Care given",
        "interventions.*": "Care given, line {n}",
        "medications_given": "Medications given",
        "medications_given.*.name": "Medication {n}, name",
        "medications_given.*.dose": "Medication {n}, dose",
        "medications_given.*.route": "Medication {n}, route",
        "observations": "Observations",
        "recommendations": "Recommendations",
    }
)


def vital_kinds() -> list[dict[str, Any]]:
    """The readings the form offers: each kind's label, units and whether it takes two values."""
    return [
        {
            "kind": kind.value,
            "label": SPECS[kind].label,
            "units": [{"code": u.code, "label": u.label} for u in SPECS[kind].units],
            "pair": SPECS[kind].second is not None,
        }
        for kind in VITALS
    ]


@router.get("/nurse/visits/{visit_id}/report")
async def report_page(
    request: Request, visit_id: uuid.UUID, actor: WebNurse, db: Session, scope: Scope
) -> Response:
    """The report form: the script loads the report and saves it through the routes below
    (the report API's rules and words)."""
    visit = await service.get_visit(db, scope, actor, visit_id)
    zone = await time_zone_of(db, actor.id)
    return render(
        request,
        "visits/nurse_report.html",
        actor,
        **_values(zone, visit=visit, data={"kinds": vital_kinds()}),
    )


def _json(answer: ReportOut) -> JSONResponse:
    return JSONResponse(answer.model_dump(mode="json"))


@router.get("/nurse/visits/{visit_id}/report/data")
async def report_data(visit_id: uuid.UUID, actor: WebNurse, db: Session, scope: Scope) -> Response:
    """``GET /api/v1/visits/{id}/report`` for the page."""
    return _json(await report.get_report(db, scope, actor, visit_id))


@router.put("/nurse/visits/{visit_id}/report/data", dependencies=[CsrfHeader])
async def save_report(
    request: Request, visit_id: uuid.UUID, actor: WebNurse, db: Session, scope: Scope
) -> Response:
    """``PUT /api/v1/visits/{id}/report`` for the page; a refused field named as the form
    labels it."""
    await service.find_visit(db, scope, actor, visit_id)  # someone else's: 404 before the body
    try:
        body = ReportIn.model_validate(json.loads(await request.body() or b"{}"))
    except ValueError as exc:  # not JSON, or not a report (a ValidationError)
        detail = REPORT.explain(exc) if isinstance(exc, ValidationError) else "Not a report."
        raise Invalid(detail, code="invalid_report") from None
    return _json(await report.save_report(db, scope, actor, visit_id, body))


@router.post("/nurse/visits/{visit_id}/report/submit", dependencies=[CsrfHeader])
async def submit_report(
    visit_id: uuid.UUID, actor: WebNurse, db: Session, scope: Scope
) -> Response:
    """``POST /api/v1/visits/{id}/report/submit`` for the page."""
    return _json(await report.submit(db, scope, actor, visit_id))
