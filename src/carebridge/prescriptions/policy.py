"""Who may see which prescription.

Every read starts from :func:`visible_prescriptions`: the doctor sees the ones they wrote
(drafts included), the patient the ones issued to them (issued or cancelled: a draft is the
doctor's work in progress), an admin all. Anyone else's prescription is simply not found (404).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, false, select

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import Role
from carebridge.prescriptions.models import Prescription, PrescriptionStatus


def visible_prescriptions(actor: Actor) -> Select[Any]:
    statement = select(Prescription)
    if actor.role == Role.admin:
        return statement
    if actor.role == Role.doctor:
        return statement.where(Prescription.doctor_id == actor.id)
    if actor.role == Role.patient:
        return statement.where(
            Prescription.patient_id == actor.id,
            Prescription.status != PrescriptionStatus.draft,
        )
    return statement.where(false())


def may_change(actor: Actor, prescription: Prescription) -> bool:
    """Only the doctor who wrote it edits, issues or cancels it (admins may cancel)."""
    return actor.role == Role.doctor and prescription.doctor_id == actor.id
