"""Home visit API: the service catalog, requests and orders, the dispatcher's assignment, the
state machine's moves, and a nurse's dispatch details. The report is ``report_routes.py``, the
track and live position ``tracking_routes.py``, the dispatcher's suggestions
``suggestion_routes.py``."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from carebridge.accounts.actors import AdminActor, AnyUser
from carebridge.platform.deps import Scope, Session
from carebridge.platform.errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated
from carebridge.platform.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from carebridge.platform.problems import problem_responses
from carebridge.visits import roster, service
from carebridge.visits.models import VisitStatus
from carebridge.visits.schemas import (
    AssignIn,
    NurseDetailsIn,
    NurseDetailsOut,
    ServiceOut,
    TransitionIn,
    VisitDetailOut,
    VisitIn,
    VisitPage,
)

router = APIRouter(tags=["visits"])
_READ = problem_responses(Unauthenticated, Forbidden, NotFound, Invalid)
_MOVE = problem_responses(Unauthenticated, Forbidden, NotFound, Invalid, Conflict)

Cursor = Annotated[str | None, Query(max_length=512)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]


@router.get("/visit-services", response_model=list[ServiceOut], responses=_READ)
async def visit_services(actor: AnyUser) -> list[ServiceOut]:
    """The services nurses perform at home: `code` (what a request names and a nurse's skills
    list), label, usual duration."""
    return service.services()


@router.get("/visits", response_model=VisitPage, responses=_READ)
async def list_visits(
    actor: AnyUser,
    db: Session,
    scope: Scope,
    status: Annotated[list[VisitStatus] | None, Query(max_length=10)] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> VisitPage:
    """The visits you may see, newest request first: a patient's own; a nurse's assigned ones
    (and open requests they may claim, where the clinic allows); a doctor's ordered ones and
    the reports to review; every visit for a dispatcher (administrator). `status` filters
    (repeat it for several)."""
    page = await service.list_visits(db, scope, actor, status=status, cursor=cursor, limit=limit)
    return VisitPage(items=page.items, next_cursor=page.next_cursor)


@router.post("/visits", status_code=201, response_model=VisitDetailOut, responses=_MOVE)
async def request_visit(body: VisitIn, actor: AnyUser, db: Session, scope: Scope) -> VisitDetailOut:
    """Patient: ask for a nurse at home (a service, the address with its map point if you can,
    a time window of at most 12 hours, sealed access notes). Doctor: order one for a patient in
    your care (`patient_id`, and the consultation as `appointment_id`). The dispatchers are
    told. Others: 403 `wrong_role`."""
    return await service.request_visit(db, scope, actor, body)


@router.get("/visits/{visit_id}", response_model=VisitDetailOut, responses=_READ)
async def get_visit(
    visit_id: uuid.UUID, actor: AnyUser, db: Session, scope: Scope
) -> VisitDetailOut:
    """One visit with its timeline (every move: who, when, where) and `allowed`, the statuses
    you may move it to now. A read by anyone but the patient is audited."""
    return await service.get_visit(db, scope, actor, visit_id)


@router.post("/visits/{visit_id}/assign", response_model=VisitDetailOut, responses=_MOVE)
async def assign_visit(
    visit_id: uuid.UUID, body: AssignIn, actor: AdminActor, db: Session, scope: Scope
) -> VisitDetailOut:
    """Dispatcher: give the visit to a nurse of the roster who performs its service (again, to
    another nurse, until they set off). `point` places an address that had none. A visit that
    cannot be assigned now answers 409 with `allowed`."""
    return await service.assign(db, scope, actor, visit_id, body)


@router.post("/visits/{visit_id}/transitions", response_model=VisitDetailOut, responses=_MOVE)
async def move_visit(
    visit_id: uuid.UUID, body: TransitionIn, actor: AnyUser, db: Session, scope: Scope
) -> VisitDetailOut:
    """Move the visit (`to`): the nurse `accepted`, back to `requested` (decline), `en_route`
    (from 2 hours before the window), `arrived`, `in_progress`, `no_show` (15 minutes after
    arriving), `completed`; a nurse claims an open request with `accepted` where the clinic
    allows; the patient, the ordering doctor or a dispatcher `cancelled` (until the nurse is at
    the door). A move not allowed now answers 409 with `current` (the status now) and `allowed`."""
    return await service.transition(db, scope, actor, visit_id, body)


@router.get("/visit-nurses/{nurse_id}", response_model=NurseDetailsOut, responses=_READ)
async def nurse_details(nurse_id: uuid.UUID, actor: AnyUser, db: Session) -> NurseDetailsOut:
    """A nurse's dispatch details (the nurse themself, or a dispatcher)."""
    return await roster.get_details(db, actor, nurse_id)


@router.put("/visit-nurses/{nurse_id}", response_model=NurseDetailsOut, responses=_READ)
async def set_nurse_details(
    nurse_id: uuid.UUID, body: NurseDetailsIn, actor: AnyUser, db: Session
) -> NurseDetailsOut:
    """Set a nurse's base, skills (service codes), radius and whether they are on duty (the
    nurse themself, or a dispatcher)."""
    return await roster.set_details(db, actor, nurse_id, body)
