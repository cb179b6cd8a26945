"""The visit's state machine: every move a status may make, who may make it and through which
door of the API. One table (:data:`MOVES`) decides; the database holds the same pairs
(``visit_state_moves``, refused by a trigger otherwise: a test compares them) and the API answers
a refused move with the moves allowed now.

::

    requested ─assign→ assigned ─accept→ accepted ─set off→ en_route ─arrive→ arrived
        ↑  └──────claim (nurse, where the clinic allows)──────┘               │   └→ no_show
        └──── decline (the nurse) ────┘                                    in_progress
    requested … en_route ─cancel→ cancelled                                     │
                                          signed_off ←sign off (a doctor)─ completed

Parties are relations to the visit, not roles: the visit's patient, its nurse, a nurse who may
claim it, a dispatcher (an administrator), the doctor who ordered it, and the doctor who reviews
its report. The time rules (when a party may make a move) are :mod:`visits.policy`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from carebridge.visits.models import VisitStatus as S


class Party(StrEnum):
    patient = "patient"
    nurse = "nurse"  # the nurse assigned
    claimant = "claimant"  # a nurse who may claim an open visit (skills, radius, the setting)
    dispatcher = "dispatcher"  # an administrator
    orderer = "orderer"  # the doctor who ordered the visit
    reviewer = "reviewer"  # a doctor reviewing its report


class Door(StrEnum):
    """Where in the API a move is made."""

    assign = "assign"  # POST /visits/{id}/assign
    transition = "transition"  # POST /visits/{id}/transitions
    review = "review"  # POST /visits/{id}/report/review


@dataclass(frozen=True)
class Move:
    source: S
    target: S
    parties: frozenset[Party]
    door: Door
    name: str  # what the timeline calls it


def _m(source: S, target: S, door: Door, name: str, *parties: Party) -> Move:
    return Move(source, target, frozenset(parties), door, name)


_CANCELLERS = (Party.patient, Party.orderer, Party.dispatcher)

MOVES: tuple[Move, ...] = (
    _m(S.requested, S.assigned, Door.assign, "assigned", Party.dispatcher),
    _m(S.assigned, S.assigned, Door.assign, "reassigned", Party.dispatcher),
    _m(S.accepted, S.assigned, Door.assign, "reassigned", Party.dispatcher),
    _m(S.requested, S.accepted, Door.transition, "claimed", Party.claimant),
    _m(S.assigned, S.accepted, Door.transition, "accepted", Party.nurse),
    _m(S.assigned, S.requested, Door.transition, "declined", Party.nurse),
    _m(S.accepted, S.requested, Door.transition, "declined", Party.nurse),
    _m(S.accepted, S.en_route, Door.transition, "on the way", Party.nurse),
    _m(S.en_route, S.arrived, Door.transition, "arrived", Party.nurse),
    _m(S.arrived, S.in_progress, Door.transition, "started", Party.nurse),
    _m(S.arrived, S.no_show, Door.transition, "nobody answered", Party.nurse),
    _m(S.in_progress, S.completed, Door.transition, "completed", Party.nurse),
    _m(S.completed, S.signed_off, Door.review, "signed off", Party.reviewer),
    _m(S.requested, S.cancelled, Door.transition, "cancelled", *_CANCELLERS),
    _m(S.assigned, S.cancelled, Door.transition, "cancelled", *_CANCELLERS),
    _m(S.accepted, S.cancelled, Door.transition, "cancelled", *_CANCELLERS),
    _m(S.en_route, S.cancelled, Door.transition, "cancelled", *_CANCELLERS),
)

FINAL = frozenset({S.signed_off, S.cancelled, S.no_show})
# The nurse is on the move or at the home: their position is shared.
TRACKED = frozenset({S.en_route, S.arrived})
# The nurse has taken the visit and it is not over: the patient's record is open to them.
NURSE_IN_CARE = frozenset({S.accepted, S.en_route, S.arrived, S.in_progress, S.completed})


def pairs() -> frozenset[tuple[str, str]]:
    """The (from, to) pairs the database allows (``visit_state_moves``)."""
    return frozenset((move.source.value, move.target.value) for move in MOVES)


def moves_from(source: S) -> tuple[Move, ...]:
    return tuple(move for move in MOVES if move.source == source)


def find(source: S, target: S) -> Move | None:
    return next((m for m in MOVES if m.source == source and m.target == target), None)
