"""Who may see which prescription, and who may do what to it.

Every read starts from :func:`visible_prescriptions`: the doctor sees the ones they wrote
(drafts included), the patient the ones issued to them (issued or cancelled: a draft is the
doctor's work in progress), an admin all. Anyone else's prescription is simply not found (404).
The service refuses by the predicates below, and the pages offer what :func:`allowed_actions`
and :func:`may_prescribe` say.
"""

from __future__ import annotations

import uuid
from typing import Any, Protocol

from sqlalchemy import Select, false, select

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import Role
from carebridge.prescriptions.models import PdfStatus, Prescription, PrescriptionStatus
from carebridge.scheduling.models import AppointmentStatus

# Appointments a prescription may be written for: under way or done.
OPEN_FOR_PRESCRIBING = frozenset({AppointmentStatus.in_progress, AppointmentStatus.completed})


class Written(Protocol):
    """What the rules read of a prescription (a row, or the API's ``PrescriptionOut``)."""

    @property
    def doctor_id(self) -> uuid.UUID: ...
    @property
    def status(self) -> str: ...
    @property
    def pdf_status(self) -> str | None: ...


class Prescribable(Protocol):
    """What the rules read of an appointment (a row, or the API's ``AppointmentOut``)."""

    @property
    def doctor_id(self) -> uuid.UUID: ...
    @property
    def status(self) -> str: ...


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


def may_change(actor: Actor, prescription: Written) -> bool:
    """Only the doctor who wrote it edits, issues or cancels it (admins may cancel)."""
    return actor.role == Role.doctor and prescription.doctor_id == actor.id


def may_cancel(actor: Actor, prescription: Written) -> bool:
    """Its doctor, or an admin (whatever its status: see :func:`allowed_actions`)."""
    return actor.role == Role.admin or may_change(actor, prescription)


def prescribing_open(appointment: Prescribable) -> bool:
    """Prescriptions are written during an appointment or after it, never before."""
    return AppointmentStatus(appointment.status) in OPEN_FOR_PRESCRIBING


def may_prescribe(actor: Actor, appointment: Prescribable) -> bool:
    """The appointment's doctor, once prescribing is open for it."""
    return (
        actor.role == Role.doctor
        and appointment.doctor_id == actor.id
        and prescribing_open(appointment)
    )


def allowed_actions(actor: Actor, prescription: Written) -> frozenset[str]:
    """What ``actor`` may do to ``prescription`` now: ``issue`` (its doctor, a draft) and
    ``cancel`` (its doctor or an admin, unless it is cancelled already) and ``download`` (its
    PDF, once issued and rendered)."""
    status = PrescriptionStatus(prescription.status)
    actions = set()
    if may_change(actor, prescription) and status == PrescriptionStatus.draft:
        actions.add("issue")
    if may_cancel(actor, prescription) and status != PrescriptionStatus.cancelled:
        actions.add("cancel")
    if status != PrescriptionStatus.draft and prescription.pdf_status == PdfStatus.ready:
        actions.add("download")
    return frozenset(actions)
