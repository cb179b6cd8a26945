"""The doctor's review of home visit reports: the queue (``/visits/reviews``: the reports of the
visits they ordered, then the reports no doctor has taken yet) and a report's page
(``/visits/{id}/review``: vitals, interventions, medications given, observations,
recommendations and photos) with the two decisions, sign off (a rating of 1 to 5 and feedback
for the nurse) and request changes. Which reports are waiting is the visit service's answer
(the doctor may move the visit to ``signed_off``); the report and the decision are the report's
service's (``web/visit_common.py``). A visit's review page opens for the doctors who may see
the visit; its patient and the dispatchers are sent to the visit's page, anyone else gets the
404 page."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from pydantic import ValidationError
from starlette.responses import Response

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import Role
from carebridge.accounts.service import time_zone_of
from carebridge.platform.context import CallScope
from carebridge.platform.deps import Scope, Session
from carebridge.platform.errors import CareBridgeError
from carebridge.platform.pagination import MAX_PAGE_SIZE
from carebridge.visits import service
from carebridge.visits.models import VisitStatus
from carebridge.web.callers import WebDoctor, WebUser
from carebridge.web.forms import FormLanguage, FormModel, filled
from carebridge.web.pages import redirect, render
from carebridge.web.records import check_approved, refused
from carebridge.web.session import Csrf
from carebridge.web.visit_common import helpers, read_report, review_report

router = APIRouter(include_in_schema=False)

DONE = {
    "sign_off": "Report signed off: the patient can download it, the nurse reads your feedback.",
    "request_changes": "Changes requested: the nurse has been told.",
}
REVIEW_FORM = FormLanguage(
    {"decision": "Decision", "rating": "Rating", "feedback": "Feedback", "changes": "Changes"}
)


class ReviewForm(FormModel):
    decision: str = ""
    rating: str = ""
    feedback: str = ""
    changes: str = ""


@router.get("/visits/reviews")
async def reviews_page(request: Request, actor: WebDoctor, db: Session, scope: Scope) -> Response:
    """Reports waiting for a doctor: those of the visits you ordered, then the open queue."""
    page = await service.list_visits(
        db, scope, actor, status=[VisitStatus.completed], cursor=None, limit=MAX_PAGE_SIZE
    )
    waiting = [visit for visit in page.items if VisitStatus.signed_off in visit.allowed]
    ordered = [v for v in waiting if v.ordered_by is not None and v.ordered_by.id == actor.id]
    open_queue = [v for v in waiting if v not in ordered]
    return render(
        request,
        "visits/reviews.html",
        actor,
        ordered=ordered,
        open_queue=open_queue,
        zone=await time_zone_of(db, actor.id),
        notice=DONE.get(request.query_params.get("done") or ""),
        **helpers(),
    )


async def review_page(
    request: Request,
    actor: Actor,
    db: Session,
    scope: CallScope,
    visit_id: uuid.UUID,
    status_code: int = 200,
    **values: Any,
) -> Response:
    visit = await service.get_visit(db, scope, actor, visit_id)
    report: dict[str, Any] | None = None
    unavailable = ""
    try:
        report = await read_report(db, scope, actor, visit_id)
    except CareBridgeError as exc:
        if exc.status != 503:
            raise
        unavailable = exc.detail
    return render(
        request,
        "visits/review.html",
        actor,
        status_code=status_code,
        visit=visit,
        report=report,
        unavailable=unavailable,
        # The report's service says what the doctor may do with it now.
        may_review=report is not None and "review" in report.get("actions", []),
        zone=await time_zone_of(db, actor.id),
        **helpers(**values),
    )


async def reviewer_of(
    db: Session, scope: CallScope, actor: Actor, visit_id: uuid.UUID
) -> Response | None:
    """Who opens a visit's review: the 404 page for a visit they may not see (as the API's),
    the visit's own page for its other people (the patient, a dispatcher); None: a doctor."""
    check_approved(actor)
    await service.find_visit(db, scope, actor, visit_id)
    return None if actor.role == Role.doctor else redirect(f"/visits/{visit_id}")


@router.get("/visits/{visit_id}/review")
async def visit_review_page(
    request: Request, visit_id: uuid.UUID, actor: WebUser, db: Session, scope: Scope
) -> Response:
    """A visit's report to review, with the sign-off and request-changes forms."""
    elsewhere = await reviewer_of(db, scope, actor, visit_id)
    return elsewhere or await review_page(request, actor, db, scope, visit_id)


@router.post("/visits/{visit_id}/review", dependencies=[Csrf])
async def review_visit(
    request: Request,
    visit_id: uuid.UUID,
    actor: WebUser,
    db: Session,
    scope: Scope,
    form: Annotated[ReviewForm, Form()],
) -> Response:
    """Sign the report off (a rating and feedback) or ask the nurse for changes."""
    elsewhere = await reviewer_of(db, scope, actor, visit_id)
    if elsewhere is not None:
        return elsewhere
    fields = filled(
        decision=form.decision,
        rating=form.rating.strip(),
        feedback=form.feedback.strip(),
        changes=form.changes.strip(),
    )
    try:
        await review_report(db, scope, actor, visit_id, fields)
    except (ValidationError, CareBridgeError) as exc:
        status = await refused(db, exc)
        error = REVIEW_FORM.explain(exc)
        return await review_page(
            request, actor, db, scope, visit_id, status, error=error, form=form
        )
    return redirect(f"/visits/reviews?done={form.decision}")
