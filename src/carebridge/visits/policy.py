"""Who sees which home visit, who is what to it (its parties), and when each move of
``visits/states.py`` may be made.

- The patient sees their visits; the nurse the visits assigned to them, and, where the clinic
  lets nurses claim (``CAREBRIDGE_VISIT_NURSES_CLAIM``), the open requests for a service among
  their skills within their radius of the home (``claimable``); a doctor the visits they ordered
  and those whose report they review or may take for review (submitted, nobody reviewing yet);
  a dispatcher (administrator) every visit. Anyone else: 404.
- The nurse's live position and track: the visit's patient, its nurse and the dispatchers, while
  it is tracked (``states.TRACKED``) and after, until the track is reduced.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, false, func, or_, select

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import Role
from carebridge.config import Settings
from carebridge.visits import states
from carebridge.visits.geo import distance_sql
from carebridge.visits.models import ReportStatus, Visit, VisitNurse, VisitReport, VisitStatus
from carebridge.visits.states import Door, Move, Party

TOPIC = "visit."


def topic_of(visit_id: uuid.UUID) -> str:
    return f"{TOPIC}{visit_id}"


def claimable(nurse_id: uuid.UUID | ColumnElement[uuid.UUID]) -> ColumnElement[bool]:
    """An open request this nurse may claim: a service among their skills, the home placed and
    within their radius of their base (or last position when they have no base)."""
    lat = func.coalesce(VisitNurse.base_lat, VisitNurse.last_lat)
    lng = func.coalesce(VisitNurse.base_lng, VisitNurse.last_lng)
    return and_(
        Visit.status == VisitStatus.requested.value,
        Visit.lat.is_not(None),
        exists().where(
            VisitNurse.nurse_id == nurse_id,
            Visit.service == VisitNurse.skills.any_(),
            lat.is_not(None),
            distance_sql(lat, lng, Visit.lat, Visit.lng) <= VisitNurse.radius_km * 1000,
        ),
    )


def in_review_queue() -> ColumnElement[bool]:
    """A submitted report nobody reviews yet: every doctor's queue."""
    return exists().where(
        VisitReport.visit_id == Visit.id,
        VisitReport.status == ReportStatus.submitted.value,
        VisitReport.reviewer_id.is_(None),
    )


def reviewed_by(doctor_id: uuid.UUID) -> ColumnElement[bool]:
    return exists().where(VisitReport.visit_id == Visit.id, VisitReport.reviewer_id == doctor_id)


def visible_visits(actor: Actor, settings: Settings) -> Select[Any]:
    statement = select(Visit)
    if actor.role == Role.admin:
        return statement
    if actor.role == Role.patient:
        return statement.where(Visit.patient_id == actor.id)
    if actor.role == Role.nurse:
        mine = Visit.nurse_id == actor.id
        if settings.visit_nurses_claim:
            return statement.where(or_(mine, claimable(actor.id)))
        return statement.where(mine)
    if actor.role == Role.doctor:
        return statement.where(
            or_(Visit.ordered_by_id == actor.id, reviewed_by(actor.id), in_review_queue())
        )
    return statement.where(false())


def may_see_position(actor: Actor, visit: Visit) -> bool:
    """The live position and the track: the visit's patient, its nurse, the dispatchers."""
    return (
        actor.role == Role.admin
        or (actor.role == Role.patient and visit.patient_id == actor.id)
        or (actor.role == Role.nurse and visit.nurse_id == actor.id)
    )


@dataclass(frozen=True)
class Facts:
    """What the parties depend on besides the visit row (computed by the service)."""

    claimable: bool = False  # the caller is a nurse who may claim this open request
    reviewing: bool = False  # the caller is a doctor who may review its submitted report


def parties(actor: Actor, visit: Visit, facts: Facts) -> frozenset[Party]:
    found: set[Party] = set()
    if actor.role == Role.patient and visit.patient_id == actor.id:
        found.add(Party.patient)
    if actor.role == Role.nurse and visit.nurse_id == actor.id:
        found.add(Party.nurse)
    if actor.role == Role.nurse and facts.claimable:
        found.add(Party.claimant)
    if actor.role == Role.admin:
        found.add(Party.dispatcher)
    if actor.role == Role.doctor and visit.ordered_by_id == actor.id:
        found.add(Party.orderer)
    if actor.role == Role.doctor and facts.reviewing:
        found.add(Party.reviewer)
    return frozenset(found)


@dataclass(frozen=True)
class Refusal:
    code: str
    detail: str


def _at(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def time_refusal(move: Move, visit: Visit, now: datetime, settings: Settings) -> Refusal | None:
    """Why ``move`` may not be made at ``now`` (None: it may)."""
    if move.target == VisitStatus.en_route:
        earliest = visit.window_start - timedelta(minutes=settings.visit_set_off_minutes_before)
        if now < earliest:
            return Refusal("too_early", f"You can set off from {_at(earliest)}.")
    if move.target == VisitStatus.no_show and visit.arrived_at is not None:
        wait_until = visit.arrived_at + timedelta(minutes=settings.visit_no_show_minutes)
        if now < wait_until:
            return Refusal(
                "wait_longer",
                f"Wait for the patient until {_at(wait_until)} "
                f"({settings.visit_no_show_minutes} minutes after arriving).",
            )
    if (
        move.door == Door.assign or move.target == VisitStatus.accepted
    ) and visit.window_end <= now:
        return Refusal("window_passed", "The visit's time window has passed.")
    return None


def may_make(
    move: Move, who: frozenset[Party], visit: Visit, now: datetime, settings: Settings
) -> bool:
    return bool(move.parties & who) and time_refusal(move, visit, now, settings) is None


def allowed(
    actor: Actor, visit: Visit, facts: Facts, now: datetime, settings: Settings
) -> list[VisitStatus]:
    """The statuses ``actor`` may move ``visit`` to now, through any door."""
    who = parties(actor, visit, facts)
    return [
        move.target
        for move in states.moves_from(VisitStatus(visit.status))
        if may_make(move, who, visit, now, settings)
    ]


def sends_position(nurse_id: uuid.UUID | ColumnElement[uuid.UUID]) -> ColumnElement[bool]:
    """The visits whose position this nurse may send: theirs as the assigned nurse, while the
    position is shared (``states.TRACKED``). Only a nurse's id may be given."""
    return and_(Visit.nurse_id == nurse_id, Visit.status.in_([s.value for s in states.TRACKED]))
