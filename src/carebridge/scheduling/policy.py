"""Who may see and do what to an appointment.

Every read starts from :func:`visible_appointments`: the patient sees their own, the doctor the
ones with them, an admin all, an API key with ``appointments:read`` all (it may only list them).
Anyone else's appointment is simply not found (404). The moves of
the lifecycle are declared once in :data:`MOVES`: from which statuses, to which, by whom.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, false, select

from carebridge.accounts.actors import Actor
from carebridge.accounts.api_keys import ApiClient, ApiKeyScope
from carebridge.accounts.models import Role
from carebridge.scheduling.models import Appointment
from carebridge.scheduling.models import AppointmentStatus as S


def visible_appointments(actor: Actor | ApiClient) -> Select[Any]:
    statement = select(Appointment)
    if isinstance(actor, ApiClient):
        # An integration of the clinic (its calendar, its billing) reads every appointment
        # with appointments:read; the reason for the visit is only in the single read, which
        # keys cannot call.
        if ApiKeyScope.appointments_read in actor.scopes:
            return statement
        return statement.where(false())
    if actor.role == Role.admin:
        return statement
    if actor.role == Role.patient:
        return statement.where(Appointment.patient_id == actor.id)
    if actor.role == Role.doctor:
        return statement.where(Appointment.doctor_id == actor.id)
    return statement.where(false())


@dataclass(frozen=True)
class Move:
    name: str
    sources: frozenset[S]
    target: S | None  # None: the status stays (a reschedule)
    roles: frozenset[Role]  # who may ask for it (the system moves by itself where noted)


def _move(name: str, sources: set[S], target: S | None, *roles: Role) -> Move:
    return Move(name, frozenset(sources), target, frozenset(roles))


MOVES: dict[str, Move] = {
    move.name: move
    for move in (
        # The doctor accepts an unpaid booking (to be paid at the clinic); payment does the
        # same by itself.
        _move("confirm", {S.pending_payment}, S.scheduled, Role.doctor),
        _move("start", {S.scheduled}, S.in_progress, Role.doctor),
        _move("complete", {S.in_progress}, S.completed, Role.doctor),
        _move("no_show", {S.scheduled}, S.no_show, Role.doctor),
        _move(
            "cancel",
            {S.pending_payment, S.scheduled},
            S.cancelled,
            Role.patient,
            Role.doctor,
            Role.admin,
        ),
        _move("reschedule", {S.pending_payment, S.scheduled}, None, Role.patient),
        # The system's own moves: payment received, an unpaid hold lapsed or payment failed.
        _move("paid", {S.pending_payment}, S.scheduled),
        _move("release", {S.pending_payment}, S.cancelled),
    )
}
