"""Who may read which part of a patient's health record: the rule, in one place.

A record is its patient's. A clinician reads it on one of three bases, tried in this order:

- ``care``: a doctor with an appointment with the patient still ahead, or one that ended in the
  last ``CAREBRIDGE_RECORD_ACCESS_DAYS`` (``scheduling``'s care history: booked, held, done or
  missed, never cancelled); every section. A nurse with an open home visit to the patient
  (accepted and not yet signed off: ``visits``, through ``records/hooks.py``); every section.
- ``grant``: the patient shared some sections with this clinician, unrevoked and unexpired.
- ``emergency``: a doctor broke the glass with a written reason, within
  ``CAREBRIDGE_RECORD_EMERGENCY_MINUTES``; every section.

Anyone else, and an administrator, finds no record (404), exactly as if the patient did not
exist. Every clinician read is audited by the service that reads (``records/access.py``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, select

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import Role
from carebridge.records.models import EmergencyAccess, RecordGrant, Section

ALL_SECTIONS = frozenset(Section)
CLINICIANS = frozenset({Role.doctor, Role.nurse})


class Basis(StrEnum):
    own = "own"
    care = "care"
    grant = "grant"
    emergency = "emergency"


@dataclass(frozen=True)
class Subject:
    """Whose record a call reads, who reads it, on what basis and which sections it may see."""

    patient_id: uuid.UUID
    actor: Actor
    basis: Basis
    sections: frozenset[Section]

    @property
    def by_clinician(self) -> bool:
        return self.basis != Basis.own


def own(actor: Actor) -> Subject:
    return Subject(actor.id, actor, Basis.own, ALL_SECTIONS)


def in_care(last_ends_at: datetime | None, upcoming: bool, now: datetime, days: int) -> bool:
    """A care relationship from the appointments a doctor and a patient had: one ahead, or the
    latest ended at most ``days`` ago."""
    return upcoming or (last_ends_at is not None and last_ends_at >= now - timedelta(days=days))


def grant_is_open(now: datetime | ColumnElement[datetime]) -> ColumnElement[bool]:
    """A grant in force at ``now``: not revoked, not expired."""
    return and_(RecordGrant.revoked_at.is_(None), RecordGrant.expires_at > now)


def open_grant(patient_id: uuid.UUID, grantee_id: uuid.UUID, now: datetime) -> Select[Any]:
    return select(RecordGrant.sections).where(
        RecordGrant.patient_id == patient_id,
        RecordGrant.grantee_id == grantee_id,
        grant_is_open(now),
    )


def open_emergency(patient_id: uuid.UUID, doctor_id: uuid.UUID, now: datetime) -> Select[Any]:
    return select(EmergencyAccess.id).where(
        EmergencyAccess.patient_id == patient_id,
        EmergencyAccess.doctor_id == doctor_id,
        EmergencyAccess.expires_at > now,
    )


def may_break_glass(actor: Actor) -> bool:
    """Only a doctor opens a record in an emergency (a nurse asks a doctor)."""
    return actor.role == Role.doctor


def may_write(subject: Subject, section: Section) -> bool:
    """Who adds to a section: the patient, or a clinician whose basis covers it and is not a
    grant (a grant shares for reading only). Pages offer their forms by it."""
    return section in subject.sections and subject.basis != Basis.grant


def sections_of(granted: list[str]) -> frozenset[Section]:
    return frozenset(Section(s) for s in granted if s in Section.__members__)
