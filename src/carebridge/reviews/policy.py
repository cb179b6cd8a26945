"""Who may see which review (outside the public list of a doctor's visible reviews).

The patient sees the reviews they wrote, the doctor the reviews of their appointments, an admin
every review. Anyone else's review is simply not found (404). What the pages offer on an
appointment's review is :func:`review_actions`; the service refuses by the same predicates.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Select, false, select

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import Role
from carebridge.reviews.models import Review
from carebridge.reviews.schemas import ReviewOut
from carebridge.scheduling.models import AppointmentStatus


def visible_reviews(actor: Actor) -> Select[Any]:
    statement = select(Review)
    if actor.role == Role.admin:
        return statement
    if actor.role == Role.patient:
        return statement.where(Review.patient_id == actor.id)
    if actor.role == Role.doctor:
        return statement.where(Review.doctor_id == actor.id)
    return statement.where(false())


class Reviewed(Protocol):
    """What the rules read of an appointment (a row, or the API's ``AppointmentOut``)."""

    @property
    def patient_id(self) -> uuid.UUID: ...
    @property
    def doctor_id(self) -> uuid.UUID: ...
    @property
    def status(self) -> str: ...


def reviewable(appointment: Reviewed) -> bool:
    """Only a completed appointment is reviewed (and has a review page worth linking to)."""
    return appointment.status == AppointmentStatus.completed


def editable(review: ReviewOut, now: datetime) -> bool:
    """Whether its patient may still change the review: the window is open, it is shown."""
    return not review.hidden and now <= review.editable_until


def review_actions(
    actor: Actor, appointment: Reviewed, review: ReviewOut | None, now: datetime
) -> frozenset[str]:
    """What ``actor`` may do on the review of ``appointment`` now: ``write`` (its patient, once
    it is completed and not reviewed yet), ``edit`` (its patient, while :func:`editable`),
    ``reply`` (its doctor, once), and for an admin ``hide`` (a shown review) or ``show`` (a
    hidden one)."""
    actions = set()
    patient = actor.id == appointment.patient_id
    if patient and review is None and reviewable(appointment):
        actions.add("write")
    if patient and review is not None and editable(review, now):
        actions.add("edit")
    if actor.id == appointment.doctor_id and review is not None and not review.reply:
        actions.add("reply")
    if actor.role == Role.admin and review is not None:
        actions.add("show" if review.hidden else "hide")
    return frozenset(actions)
