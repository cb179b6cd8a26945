"""Reviews API: patients review completed appointments, doctors reply, admins hide; anyone reads
a listed doctor's visible reviews."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from carebridge.accounts.actors import AdminActor, AnyUser, DoctorActor, PatientActor
from carebridge.platform.access import PUBLIC
from carebridge.platform.deps import RuntimeDep, Scope, Session
from carebridge.platform.errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated
from carebridge.platform.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from carebridge.platform.problems import problem_responses
from carebridge.reviews import service
from carebridge.reviews.schemas import (
    HideIn,
    PublicReviewPage,
    ReplyIn,
    ReviewEdit,
    ReviewIn,
    ReviewOut,
)

router = APIRouter(tags=["reviews"])
_CHANGE = problem_responses(Unauthenticated, Forbidden, NotFound, Conflict, Invalid)


@router.post(
    "/appointments/{appointment_id}/review",
    status_code=201,
    response_model=ReviewOut,
    responses=_CHANGE,
)
async def review_appointment(
    appointment_id: uuid.UUID,
    body: ReviewIn,
    actor: PatientActor,
    db: Session,
    scope: Scope,
) -> ReviewOut:
    """Review one of your completed appointments: 1 to 5 stars and an optional plain-text
    comment (at most 2000 characters). One review per appointment; you can edit it for 14 days
    (`CAREBRIDGE_REVIEW_EDIT_DAYS`). The doctor is told. Codes: `not_completed` (409, with
    `current_status`), `already_reviewed` (409)."""
    return await service.create(db, scope, actor, appointment_id, body)


@router.get(
    "/appointments/{appointment_id}/review",
    response_model=ReviewOut | None,
    responses=problem_responses(Unauthenticated, NotFound),
)
async def appointment_review(
    appointment_id: uuid.UUID, actor: AnyUser, db: Session, runtime: RuntimeDep
) -> ReviewOut | None:
    """The review of one of your appointments (patient, doctor or admin), or null if none."""
    return await service.for_appointment(db, runtime.settings, actor, appointment_id)


@router.patch("/reviews/{review_id}", response_model=ReviewOut, responses=_CHANGE)
async def edit_review(
    review_id: uuid.UUID,
    body: ReviewEdit,
    actor: PatientActor,
    db: Session,
    scope: Scope,
) -> ReviewOut:
    """Change your review's `rating` and/or `comment` (`null` removes the comment) until
    `editable_until`. Codes: `edit_window_closed` (409), `review_hidden` (409),
    `nothing_to_change` (422)."""
    return await service.edit(db, scope, actor, review_id, body)


@router.post("/reviews/{review_id}/reply", response_model=ReviewOut, responses=_CHANGE)
async def reply_to_review(
    review_id: uuid.UUID,
    body: ReplyIn,
    actor: DoctorActor,
    db: Session,
    scope: Scope,
) -> ReviewOut:
    """Doctor: answer a review of one of your appointments, once (plain text, at most 2000
    characters). The patient is told. Code: `already_replied` (409)."""
    return await service.reply(db, scope, actor, review_id, body)


@router.post("/admin/reviews/{review_id}/hide", response_model=ReviewOut, responses=_CHANGE)
async def hide_review(
    review_id: uuid.UUID,
    body: HideIn,
    actor: AdminActor,
    db: Session,
    scope: Scope,
) -> ReviewOut:
    """Admin: take a review off the doctor's page and out of their rating, with a `reason`
    (kept in the audit trail). Code: `already_hidden` (409)."""
    return await service.hide(db, scope, actor, review_id, body)


@router.post("/admin/reviews/{review_id}/unhide", response_model=ReviewOut, responses=_CHANGE)
async def unhide_review(
    review_id: uuid.UUID, actor: AdminActor, db: Session, scope: Scope
) -> ReviewOut:
    """Admin: show a hidden review again; it counts in the rating again. Code: `not_hidden`."""
    return await service.unhide(db, scope, actor, review_id)


@router.get(
    "/doctors/{doctor_id}/reviews",
    response_model=PublicReviewPage,
    responses=problem_responses(NotFound, Invalid),
    dependencies=[PUBLIC],
)
async def doctor_reviews(
    doctor_id: uuid.UUID,
    db: Session,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
) -> PublicReviewPage:
    """A listed doctor's reviews, newest first, the patient by first name only. Hidden reviews
    are left out. Pass `next_cursor` as `cursor` for the next page. Unknown or unlisted
    doctor: 404."""
    page = await service.public_reviews(db, doctor_id, cursor, limit)
    return PublicReviewPage(items=page.items, next_cursor=page.next_cursor)
