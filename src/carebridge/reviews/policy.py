"""Who may see which review (outside the public list of a doctor's visible reviews).

The patient sees the reviews they wrote, the doctor the reviews of their appointments, an admin
every review. Anyone else's review is simply not found (404).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, false, select

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import Role
from carebridge.reviews.models import Review


def visible_reviews(actor: Actor) -> Select[Any]:
    statement = select(Review)
    if actor.role == Role.admin:
        return statement
    if actor.role == Role.patient:
        return statement.where(Review.patient_id == actor.id)
    if actor.role == Role.doctor:
        return statement.where(Review.doctor_id == actor.id)
    return statement.where(false())
