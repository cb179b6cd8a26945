"""The dispatcher's board (``/dispatch``, administrators): the visits waiting for a nurse (window,
service, place), a map of them and of the nurses on duty (last position, else base), and per
visit a panel of suggested nurses (an htmx fragment) with an Assign button each. A visit
without a point is placed by clicking the map; the point goes with the assignment.

Live by polling: the page asks for the lists again every 15 seconds (``/dispatch/board``, an
htmx fragment carrying the map's data too); an open suggestion panel is kept across refreshes
(``hx-preserve``)."""

from __future__ import annotations

import importlib
import uuid
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from pydantic import ValidationError
from starlette.responses import Response

from carebridge.accounts.actors import Actor
from carebridge.accounts.service import time_zone_of
from carebridge.platform.context import CallScope
from carebridge.platform.deps import Scope, Session
from carebridge.platform.errors import CareBridgeError, Conflict
from carebridge.platform.pagination import MAX_PAGE_SIZE
from carebridge.visits import board, service
from carebridge.visits.models import VisitStatus
from carebridge.visits.schemas import AssignIn, PersonOut, VisitOut
from carebridge.web.forms import FormLanguage, FormModel, filled
from carebridge.web.pages import redirect, render
from carebridge.web.records import refused
from carebridge.web.session import Csrf, WebAdmin
from carebridge.web.visit_common import helpers, map_config
from carebridge.web.visit_tracking import map_page

router = APIRouter(include_in_schema=False)

REFRESH_SECONDS = 15
BOARD_PAGES = 5  # of 100 visits each
DONE = {"assigned": "Nurse assigned: the nurse and the patient have been told."}
ASSIGN_FORM = FormLanguage(
    {
        "nurse_id": "Nurse",
        "point": "Place on the map",
        "point.lat": "Latitude",
        "point.lng": "Longitude",
    }
)


@dataclass(frozen=True)
class Suggestion:
    """A suggested nurse, as ``GET /api/v1/visits/suggestions`` answers one (fields it cannot
    tell are None)."""

    nurse: PersonOut
    distance_m: float | None
    within_radius: bool
    on_duty: bool
    available: bool | None = None
    load_today: int | None = None
    score: float | None = None
    reasons: list[str] = field(default_factory=list)


async def suggestions(
    db: Session, scope: CallScope, actor: Actor, visit_id: uuid.UUID
) -> list[Suggestion]:
    """The nurses to suggest for a visit: the dispatcher's ranked suggestions
    (``visits.suggestions.suggest``, where the server has them) for a visit on the map; for a
    visit not placed yet (which they cannot rank by distance), the roster's nurses who perform
    its service (``visits/board.py``), so that it can be placed and assigned at once."""
    try:
        ranked = importlib.import_module("carebridge.visits.suggestions")
    except ModuleNotFoundError:
        ranked = None
    if ranked is not None:
        try:
            found = await ranked.suggest(db, scope, actor, visit_id)
        except Conflict as exc:
            if exc.error_code != "visit_not_placed":
                raise
        else:
            return [
                Suggestion(
                    nurse=item.nurse,
                    distance_m=item.distance_m,
                    within_radius=item.within_radius,
                    on_duty=item.on_duty,
                    available=item.available,
                    load_today=item.load_today,
                    score=item.score,
                    reasons=list(item.reasons),
                )
                for item in found.items
            ]
    visit = await service.find_visit(db, scope, actor, visit_id)
    return [
        Suggestion(
            nurse=PersonOut(id=c.nurse.nurse_id, name=c.nurse.name),
            distance_m=c.distance_m,
            within_radius=c.within_radius,
            on_duty=c.nurse.on_duty,
        )
        for c in await board.candidates(db, actor, visit)
    ]


def map_data(visits: list[VisitOut], nurses: list[board.RosterNurse]) -> dict[str, Any]:
    """The points the board's map draws (js/visit-map.js)."""
    return {
        "visits": [
            {"id": str(v.id), "lat": v.point.lat, "lng": v.point.lng, "label": v.service.label}
            for v in visits
            if v.point is not None
        ],
        "nurses": [
            {
                "id": str(n.nurse_id),
                "name": n.name,
                "lat": n.where.lat,
                "lng": n.where.lng,
                "kind": "position" if n.last is not None else "base",
            }
            for n in nurses
            if n.where is not None
        ],
    }


async def waiting_visits(
    db: Session, scope: CallScope, actor: Actor
) -> tuple[list[VisitOut], bool]:
    """The visits waiting for a nurse, soonest window first (at most ``BOARD_PAGES`` pages of
    the list, newest requests first; True: there are more)."""
    found: list[VisitOut] = []
    cursor: str | None = None
    for _ in range(BOARD_PAGES):
        page = await service.list_visits(
            db, scope, actor, status=[VisitStatus.requested], cursor=cursor, limit=MAX_PAGE_SIZE
        )
        found += page.items
        cursor = page.next_cursor
        if cursor is None:
            break
    return sorted(found, key=lambda v: v.window_start), cursor is not None


async def board_values(db: Session, scope: CallScope, actor: Actor) -> dict[str, Any]:
    visits, more = await waiting_visits(db, scope, actor)
    nurses = await board.roster_nurses(db, actor, on_duty_only=True)
    return helpers(
        visits=visits,
        more=more,
        nurses=nurses,
        board_data=map_data(visits, nurses),
        zone=await time_zone_of(db, actor.id),
    )


async def board_page(
    request: Request,
    actor: Actor,
    db: Session,
    scope: CallScope,
    status_code: int = 200,
    **values: Any,
) -> Response:
    opened = request.query_params.get("visit") or ""
    values.setdefault("notice", DONE.get(request.query_params.get("done") or ""))
    page = render(
        request,
        "visits/dispatch.html",
        actor,
        status_code=status_code,
        opened=opened,
        refresh_seconds=REFRESH_SECONDS,
        map=map_config(scope.settings, await board.service_area(db)),
        **await board_values(db, scope, actor),
        **values,
    )
    return map_page(page, scope.settings)


@router.get("/dispatch")
async def dispatch_page(request: Request, actor: WebAdmin, db: Session, scope: Scope) -> Response:
    """The board: visits to assign, the map, suggestions per visit (``?visit=``: opened)."""
    return await board_page(request, actor, db, scope)


@router.get("/dispatch/board")
async def board_fragment(request: Request, actor: WebAdmin, db: Session, scope: Scope) -> Response:
    """The board's lists and map data, for the page to swap in every 15 seconds."""
    return render(
        request,
        "visits/_board.html",
        actor,
        opened=request.query_params.get("visit") or "",
        **await board_values(db, scope, actor),
    )


@router.get("/dispatch/visits/{visit_id}/suggestions")
async def suggestions_fragment(
    request: Request, visit_id: uuid.UUID, actor: WebAdmin, db: Session, scope: Scope
) -> Response:
    """The nurses suggested for one visit, each with an Assign button."""
    visit = await service.get_visit(db, scope, actor, visit_id)
    return render(
        request,
        "visits/_suggestions.html",
        actor,
        visit=visit,
        suggestions=await suggestions(db, scope, actor, visit_id),
    )


class AssignForm(FormModel):
    nurse_id: str = ""
    lat: str = ""
    lng: str = ""


@router.post("/dispatch/visits/{visit_id}/assign", dependencies=[Csrf])
async def assign_visit(
    request: Request,
    visit_id: uuid.UUID,
    actor: WebAdmin,
    db: Session,
    scope: Scope,
    form: Annotated[AssignForm, Form()],
) -> Response:
    """Give the visit to a nurse (``service.assign``), with the point placed on the map."""
    point = filled(lat=form.lat.strip(), lng=form.lng.strip())
    try:
        body = AssignIn.model_validate(
            {**filled(nurse_id=form.nurse_id.strip()), **({"point": point} if point else {})}
        )
        await service.assign(db, scope, actor, visit_id, body)
    except (ValidationError, CareBridgeError) as exc:
        status = await refused(db, exc)
        error = ASSIGN_FORM.explain(exc)
        return await board_page(request, actor, db, scope, status, error=error)
    return redirect("/dispatch?done=assigned")
