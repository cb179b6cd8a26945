"""Review pages: one page per appointment's review (the patient writes or edits it, the doctor
replies, an admin hides it), and the admins' moderation list. Forms post to the same services as
the API; comments and replies are plain text, escaped by the templates."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from pydantic import ValidationError
from starlette.responses import Response

from carebridge.accounts import service as accounts
from carebridge.accounts.actors import Actor
from carebridge.platform.db import undo_unless_kept
from carebridge.platform.deps import RuntimeDep, Scope, Session
from carebridge.platform.errors import CareBridgeError, Forbidden, NotFound
from carebridge.reviews import service
from carebridge.reviews.policy import review_actions
from carebridge.reviews.schemas import HideIn, ReplyIn, ReviewEdit, ReviewIn
from carebridge.scheduling.models import AppointmentType
from carebridge.scheduling.service import get_appointment
from carebridge.web.callers import WebAdmin, WebDoctor, WebPatient, WebUser
from carebridge.web.forms import FormLanguage, FormModel, Label
from carebridge.web.pages import redirect, render
from carebridge.web.scheduling.common import TYPE_NAMES, when
from carebridge.web.session import Csrf

router = APIRouter(include_in_schema=False)
# The forms' words: the patient's review and the doctor's reply; the admin's hiding.
REVIEW = FormLanguage({"rating": Label("Rating", "stars"), "reply": "Your reply"})
MODERATION = FormLanguage({"reason": "Reason"})

DONE = {
    "saved": "Thank you: your review is saved.",
    "replied": "Your reply is published.",
    "hidden": "The review is hidden.",
    "shown": "The review is shown again.",
}


async def _review_page(
    request: Request,
    actor: Actor,
    db: Session,
    runtime: RuntimeDep,
    appointment_id: uuid.UUID,
    status_code: int = 200,
    **values: Any,
) -> Response:
    settings = runtime.settings
    appointment = await get_appointment(db, actor, appointment_id)
    review = await service.for_appointment(db, settings, actor, appointment_id)
    names = await accounts.names_of(db, (appointment.doctor_id, appointment.patient_id))
    zone = await accounts.time_zone_of(db, actor.id)
    return render(
        request,
        "reviews/review.html",
        actor,
        status_code=status_code,
        appointment=appointment,
        type_name=TYPE_NAMES[AppointmentType(appointment.type)],
        doctor_name=names.get(appointment.doctor_id, ""),
        patient_name=names.get(appointment.patient_id, ""),
        review=review,
        actions=review_actions(actor, appointment, review, datetime.now(UTC)),
        when=when,
        zone=zone,
        edit_days=settings.review_edit_days,
        **values,
    )


@router.get("/appointments/{appointment_id}/review")
async def review_page(
    request: Request,
    appointment_id: uuid.UUID,
    actor: WebUser,
    db: Session,
    runtime: RuntimeDep,
) -> Response:
    """The review of an appointment: its patient writes or edits it, its doctor replies."""
    notice = DONE.get(request.query_params.get("done") or "")
    return await _review_page(request, actor, db, runtime, appointment_id, notice=notice)


class ReviewForm(FormModel):
    """The review page's forms: the patient's rating and comment, the doctor's reply (shown
    again, as typed, when refused)."""

    rating: str = ""
    comment: str = ""
    reply: str = ""

    def rating_fields(self) -> dict[str, Any]:
        return {"rating": self.rating or None, "comment": self.comment}


class HideForm(FormModel):
    """The admin's reason for hiding a review."""

    reason: str = ""


@router.post("/appointments/{appointment_id}/review", dependencies=[Csrf])
async def save_review(
    request: Request,
    appointment_id: uuid.UUID,
    actor: WebPatient,
    db: Session,
    runtime: RuntimeDep,
    scope: Scope,
    form: Annotated[ReviewForm, Form()],
) -> Response:
    """Write the review, or change it while it may still be edited."""
    try:
        existing = await service.for_appointment(db, runtime.settings, actor, appointment_id)
        if existing is None:
            body = ReviewIn.model_validate(form.rating_fields())
            await service.create(db, scope, actor, appointment_id, body)
        else:
            edit = ReviewEdit.model_validate(form.rating_fields())
            await service.edit(db, scope, actor, existing.id, edit)
    except (CareBridgeError, ValidationError) as exc:
        return await _refused(request, actor, db, runtime, appointment_id, exc, form)
    return redirect(f"/appointments/{appointment_id}/review?done=saved")


async def _refused(
    request: Request,
    actor: Actor,
    db: Session,
    runtime: RuntimeDep,
    appointment_id: uuid.UUID,
    exc: Exception,
    form: ReviewForm,
) -> Response:
    await undo_unless_kept(db, exc)
    if isinstance(exc, NotFound | Forbidden):
        raise exc
    status = exc.status if isinstance(exc, CareBridgeError) else 422
    return await _review_page(
        request, actor, db, runtime, appointment_id, status, error=REVIEW.explain(exc), form=form
    )


@router.post("/appointments/{appointment_id}/review/reply", dependencies=[Csrf])
async def reply(
    request: Request,
    appointment_id: uuid.UUID,
    actor: WebDoctor,
    db: Session,
    runtime: RuntimeDep,
    scope: Scope,
    form: Annotated[ReviewForm, Form()],
) -> Response:
    """The doctor answers the review of their appointment, once."""
    try:
        review = await service.for_appointment(db, runtime.settings, actor, appointment_id)
        if review is None:
            raise NotFound("No such review.", code="review_not_found")
        body = ReplyIn.model_validate({"reply": form.reply})
        await service.reply(db, scope, actor, review.id, body)
    except (CareBridgeError, ValidationError) as exc:
        return await _refused(request, actor, db, runtime, appointment_id, exc, form)
    return redirect(f"/appointments/{appointment_id}/review?done=replied")


# -- moderation ---------------------------------------------------------------------------------


async def _moderation_page(
    request: Request,
    actor: Actor,
    db: Session,
    runtime: RuntimeDep,
    status_code: int = 200,
    **values: Any,
) -> Response:
    cursor = request.query_params.get("cursor") or None
    try:
        page = await service.admin_reviews(
            db, runtime.settings, hidden=None, cursor=cursor, limit=50
        )
    except CareBridgeError as exc:
        page = await service.admin_reviews(db, runtime.settings, hidden=None, cursor=None, limit=50)
        values["error"] = exc.detail
    return render(
        request, "reviews/admin.html", actor, status_code=status_code, page=page, **values
    )


@router.get("/admin/reviews")
async def moderation_page(
    request: Request, actor: WebAdmin, db: Session, runtime: RuntimeDep
) -> Response:
    """Every review, newest first, with hide and show buttons."""
    notice = DONE.get(request.query_params.get("done") or "")
    return await _moderation_page(request, actor, db, runtime, notice=notice)


@router.post("/admin/reviews/{review_id}/hide", dependencies=[Csrf])
async def hide(
    request: Request,
    review_id: uuid.UUID,
    actor: WebAdmin,
    db: Session,
    runtime: RuntimeDep,
    scope: Scope,
    form: Annotated[HideForm, Form()],
) -> Response:
    try:
        body = HideIn.model_validate({"reason": form.reason})
        await service.hide(db, scope, actor, review_id, body)
    except (CareBridgeError, ValidationError) as exc:
        await undo_unless_kept(db, exc)
        status = exc.status if isinstance(exc, CareBridgeError) else 422
        return await _moderation_page(
            request, actor, db, runtime, status, error=MODERATION.explain(exc)
        )
    return redirect("/admin/reviews?done=hidden")


@router.post("/admin/reviews/{review_id}/unhide", dependencies=[Csrf])
async def unhide(
    request: Request,
    review_id: uuid.UUID,
    actor: WebAdmin,
    db: Session,
    runtime: RuntimeDep,
    scope: Scope,
) -> Response:
    try:
        await service.unhide(db, scope, actor, review_id)
    except CareBridgeError as exc:
        await undo_unless_kept(db, exc)
        return await _moderation_page(request, actor, db, runtime, exc.status, error=exc.detail)
    return redirect("/admin/reviews?done=shown")
