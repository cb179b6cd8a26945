"""Who may see which payments: a patient their own, an admin all. Anyone else is refused."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import Role
from carebridge.payments.models import Payment
from carebridge.platform.errors import Forbidden


def visible_payments(actor: Actor) -> Select[Any]:
    statement = select(Payment)
    if actor.role == Role.admin:
        return statement
    if actor.role == Role.patient:
        return statement.where(Payment.patient_id == actor.id)
    raise Forbidden("Only patients and administrators see payments.", code="wrong_role")
