"""Reviews of completed appointments: writing, editing, the doctor's reply, hiding by an admin,
and the doctor's rating.

A doctor's ``rating_average`` and ``rating_count`` are recomputed from the visible reviews in the
transaction of every change that affects them, through ``directory.service.rate_doctor``: the
doctor's profile row is locked first (``SELECT ... FOR UPDATE``), and only then are the reviews
counted, in a new statement: under READ COMMITTED that statement sees every review committed by a
transaction that held the lock before, so two reviews written at the same moment cannot leave an
average that misses one of them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import User
from carebridge.compliance.service import record
from carebridge.config import Settings
from carebridge.directory.service import Rating, rate_doctor
from carebridge.notifications.service import notify
from carebridge.platform.context import CallScope, RequestContext
from carebridge.platform.errors import Conflict, Invalid, NotFound
from carebridge.platform.pagination import MAX_PAGE_SIZE, Page, decode_cursor, encode_cursor
from carebridge.presence.service import check_listed
from carebridge.reviews.kinds import REVIEW_RECEIVED, REVIEW_REPLIED
from carebridge.reviews.models import Review
from carebridge.reviews.policy import reviewable, visible_reviews
from carebridge.reviews.schemas import (
    HideIn,
    PublicReviewOut,
    ReplyIn,
    ReviewEdit,
    ReviewIn,
    ReviewOut,
)
from carebridge.scheduling.models import Appointment
from carebridge.scheduling.service import get_appointment

_Patient = aliased(User)
_Doctor = aliased(User)


def first_name(name: str) -> str:
    """What the public sees of a patient's name."""
    parts = name.split()
    return parts[0] if parts else "A patient"


def editable_until(settings: Settings, review: Review) -> datetime:
    return review.created_at + timedelta(days=settings.review_edit_days)


def review_out(settings: Settings, review: Review) -> ReviewOut:
    return ReviewOut(
        id=review.id,
        appointment_id=review.appointment_id,
        doctor_id=review.doctor_id,
        patient_id=review.patient_id,
        rating=review.rating,
        comment=review.comment,
        created_at=review.created_at,
        edited_at=review.edited_at,
        editable_until=editable_until(settings, review),
        reply=review.reply,
        replied_at=review.replied_at,
        hidden=review.hidden_at is not None,
        hidden_at=review.hidden_at,
        hidden_reason=review.hidden_reason,
    )


# -- reading ------------------------------------------------------------------------------------


async def get_review(
    db: AsyncSession, actor: Actor, review_id: uuid.UUID, *, lock: bool = False
) -> Review:
    """A review the caller may see; 404 otherwise, exactly as if it did not exist."""
    statement = visible_reviews(actor).where(Review.id == review_id)
    if lock:
        statement = statement.with_for_update()
    review: Review | None = await db.scalar(statement)
    if review is None:
        raise NotFound("No such review.", code="review_not_found")
    return review


async def for_appointment(
    db: AsyncSession, settings: Settings, actor: Actor, appointment_id: uuid.UUID
) -> ReviewOut | None:
    """The review of an appointment the caller may see (404 for anyone else's), or None."""
    await get_appointment(db, actor, appointment_id)
    review = await db.scalar(visible_reviews(actor).where(Review.appointment_id == appointment_id))
    return None if review is None else review_out(settings, review)


async def public_reviews(
    db: AsyncSession, doctor_id: uuid.UUID, cursor: str | None, limit: int
) -> Page[PublicReviewOut]:
    """A listed doctor's visible reviews, newest first; 404 for any other id."""
    await check_listed(db, doctor_id)
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    statement = (
        select(Review, _Patient.name)
        .join(_Patient, _Patient.id == Review.patient_id)
        .where(Review.doctor_id == doctor_id, Review.hidden_at.is_(None))
    )
    if cursor:
        created_at, review_id = decode_cursor(cursor)
        statement = statement.where(
            tuple_(Review.created_at, Review.id) < tuple_(created_at, review_id)
        )
    statement = statement.order_by(Review.created_at.desc(), Review.id.desc()).limit(limit + 1)
    rows = (await db.execute(statement)).all()
    items = [
        PublicReviewOut(
            id=review.id,
            rating=review.rating,
            comment=review.comment,
            patient_first_name=first_name(name),
            created_at=review.created_at,
            edited_at=review.edited_at,
            reply=review.reply,
            replied_at=review.replied_at,
        )
        for review, name in rows[:limit]
    ]
    more = len(rows) > limit
    next_cursor = encode_cursor(items[-1].created_at, items[-1].id) if more else None
    return Page(items=items, next_cursor=next_cursor)


@dataclass(frozen=True)
class AdminReview:
    review: ReviewOut
    doctor_name: str
    patient_name: str


async def admin_reviews(
    db: AsyncSession,
    settings: Settings,
    *,
    hidden: bool | None,
    cursor: str | None,
    limit: int,
) -> Page[AdminReview]:
    """Every review, newest first, with both names (the moderation list)."""
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    statement = (
        select(Review, _Doctor.name, _Patient.name)
        .join(_Doctor, _Doctor.id == Review.doctor_id)
        .join(_Patient, _Patient.id == Review.patient_id)
    )
    if hidden is not None:
        statement = statement.where(
            Review.hidden_at.is_not(None) if hidden else Review.hidden_at.is_(None)
        )
    if cursor:
        created_at, review_id = decode_cursor(cursor)
        statement = statement.where(
            tuple_(Review.created_at, Review.id) < tuple_(created_at, review_id)
        )
    statement = statement.order_by(Review.created_at.desc(), Review.id.desc()).limit(limit + 1)
    rows = (await db.execute(statement)).all()
    items = [
        AdminReview(review_out(settings, review), doctor, patient)
        for review, doctor, patient in rows[:limit]
    ]
    more = len(rows) > limit
    last = items[-1].review if items else None
    next_cursor = encode_cursor(last.created_at, last.id) if more and last else None
    return Page(items=items, next_cursor=next_cursor)


@dataclass(frozen=True)
class ModerationCounts:
    written_since: int  # reviews written since the given instant (to read)
    hidden: int  # reviews hidden by an admin, all time


async def moderation_counts(db: AsyncSession, since: datetime) -> ModerationCounts:
    """What the moderation list holds for an admin's attention."""
    row = (
        await db.execute(
            select(
                func.count().filter(Review.created_at >= since),
                func.count().filter(Review.hidden_at.is_not(None)),
            ).select_from(Review)
        )
    ).one()
    return ModerationCounts(written_since=int(row[0]), hidden=int(row[1]))


# -- the rating ---------------------------------------------------------------------------------


async def refresh_rating(db: AsyncSession, doctor_id: uuid.UUID) -> None:
    """Recompute the doctor's average (2 decimals) and count from the visible reviews."""
    await db.flush()  # the session does not autoflush: the change must be in what we count

    async def tally() -> Rating:
        # Run by directory under the profile row's lock: it sees what earlier holders committed.
        count, average = (
            await db.execute(
                select(func.count(), func.round(func.avg(Review.rating), 2)).where(
                    Review.doctor_id == doctor_id, Review.hidden_at.is_(None)
                )
            )
        ).one()
        return Rating(int(count), None if average is None else Decimal(average))

    await rate_doctor(db, doctor_id, tally)


async def _audit(
    db: AsyncSession,
    actor: Actor,
    review: Review,
    action: str,
    context: RequestContext,
    **extra: Any,
) -> None:
    await record(
        db,
        action=action,
        actor_id=actor.id,
        actor_role=str(actor.role),
        resource_type="review",
        resource_id=review.id,
        context=context,
        appointment_id=str(review.appointment_id),
        doctor_id=str(review.doctor_id),
        **extra,
    )


# -- the patient's review -----------------------------------------------------------------------


async def create(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    appointment_id: uuid.UUID,
    body: ReviewIn,
) -> ReviewOut:
    """The patient reviews a completed appointment of theirs, once."""
    appointment = await get_appointment(db, actor, appointment_id)
    if appointment.patient_id != actor.id:
        raise NotFound("No such appointment.")
    review = await add_review(db, appointment, body, at=datetime.now(UTC))
    await _audit(db, actor, review, "review.created", scope.origin, rating=review.rating)
    patient = await db.scalar(select(User.name).where(User.id == actor.id)) or ""
    await notify(
        db,
        review.doctor_id,
        REVIEW_RECEIVED.name,
        "New review",
        f"{first_name(patient)} rated their appointment with you {review.rating} out of 5.",
        data={"review_id": str(review.id), "appointment_id": str(appointment.id)},
        link=f"/appointments/{appointment.id}/review",
    )
    return review_out(scope.settings, review)


async def add_review(
    db: AsyncSession, appointment: Appointment, body: ReviewIn, *, at: datetime
) -> Review:
    """Write the review of a completed appointment by its patient, once, and recompute the
    doctor's rating: the rules every review is written under (the patient's, and the demo's)."""
    if not reviewable(appointment):
        raise Conflict(
            "Only a completed appointment can be reviewed.",
            code="not_completed",
            current_status=appointment.status,
        )
    if await db.scalar(select(Review.id).where(Review.appointment_id == appointment.id)):
        raise _already_reviewed()
    review = Review(
        id=uuid.uuid4(),
        appointment_id=appointment.id,
        doctor_id=appointment.doctor_id,
        patient_id=appointment.patient_id,
        rating=body.rating,
        comment=body.comment or None,
        created_at=at,
    )
    db.add(review)
    try:
        await db.flush()
    except IntegrityError as exc:
        # Two submissions at once: the unique constraint lets one through. No savepoint: the
        # refusal ends the request, and its transaction rolls back.
        if "uq_reviews_appointment_id" in str(exc.orig):
            raise _already_reviewed() from exc
        raise
    await refresh_rating(db, review.doctor_id)
    return review


def _already_reviewed() -> Conflict:
    return Conflict("You have already reviewed this appointment.", code="already_reviewed")


async def edit(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    review_id: uuid.UUID,
    body: ReviewEdit,
) -> ReviewOut:
    """The patient changes the rating or the comment, within the edit window."""
    review = await get_review(db, actor, review_id, lock=True)
    if review.patient_id != actor.id:
        raise NotFound("No such review.", code="review_not_found")
    if not body.model_fields_set:
        raise Invalid("Send a new `rating` or `comment`.", code="nothing_to_change")
    if "rating" in body.model_fields_set and body.rating is None:
        raise Invalid("A review keeps a rating from 1 to 5.", code="rating_required")
    now = datetime.now(UTC)
    until = editable_until(scope.settings, review)
    if now > until:
        raise Conflict(
            f"Reviews can be edited for {scope.settings.review_edit_days} days.",
            code="edit_window_closed",
            editable_until=until.isoformat(),
        )
    if review.hidden_at is not None:
        raise Conflict("An administrator hid this review.", code="review_hidden")
    rating_changed = body.rating is not None and body.rating != review.rating
    if body.rating is not None:
        review.rating = body.rating
    if "comment" in body.model_fields_set:
        review.comment = body.comment or None
    review.edited_at = now
    if rating_changed:
        await refresh_rating(db, review.doctor_id)
    await _audit(db, actor, review, "review.edited", scope.origin, rating=review.rating)
    return review_out(scope.settings, review)


# -- the doctor's reply -------------------------------------------------------------------------


async def reply(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    review_id: uuid.UUID,
    body: ReplyIn,
) -> ReviewOut:
    """The doctor answers a review of theirs, once."""
    review = await get_review(db, actor, review_id, lock=True)
    if review.doctor_id != actor.id:
        raise NotFound("No such review.", code="review_not_found")
    if review.reply is not None:
        raise Conflict("You have already replied to this review.", code="already_replied")
    review.reply = body.reply
    review.replied_at = datetime.now(UTC)
    await _audit(db, actor, review, "review.replied", scope.origin)
    doctor = await db.scalar(select(User.name).where(User.id == actor.id)) or "Your doctor"
    await notify(
        db,
        review.patient_id,
        REVIEW_REPLIED.name,
        "Your doctor replied",
        f"{doctor} replied to your review.",
        data={"review_id": str(review.id), "appointment_id": str(review.appointment_id)},
        link=f"/appointments/{review.appointment_id}/review",
    )
    return review_out(scope.settings, review)


# -- moderation ---------------------------------------------------------------------------------


async def hide(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    review_id: uuid.UUID,
    body: HideIn,
) -> ReviewOut:
    """An admin takes a review off the doctor's page (and out of the rating), with a reason."""
    review = await get_review(db, actor, review_id, lock=True)
    if review.hidden_at is not None:
        raise Conflict("This review is already hidden.", code="already_hidden")
    review.hidden_at = datetime.now(UTC)
    review.hidden_by = actor.id
    review.hidden_reason = body.reason
    await refresh_rating(db, review.doctor_id)
    await _audit(db, actor, review, "review.hidden", scope.origin, reason=body.reason)
    return review_out(scope.settings, review)


async def unhide(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    review_id: uuid.UUID,
) -> ReviewOut:
    """An admin shows a hidden review again (it counts in the rating again)."""
    review = await get_review(db, actor, review_id, lock=True)
    if review.hidden_at is None:
        raise Conflict("This review is not hidden.", code="not_hidden")
    review.hidden_at = None
    review.hidden_by = None
    review.hidden_reason = None
    await refresh_rating(db, review.doctor_id)
    await _audit(db, actor, review, "review.unhidden", scope.origin)
    return review_out(scope.settings, review)
