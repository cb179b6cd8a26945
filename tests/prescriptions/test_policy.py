"""What the pages offer on a prescription and an appointment (``prescriptions.policy``): the
predicates the service refuses by."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from carebridge.accounts.models import Role
from carebridge.prescriptions import policy
from tests.factories.users import an_actor


@dataclass
class _Prescription:
    doctor_id: uuid.UUID
    status: str
    pdf_status: str | None = None


@dataclass
class _Appointment:
    doctor_id: uuid.UUID
    status: str


def test_its_doctor_issues_a_draft_and_cancels_until_cancelled() -> None:
    doctor, other, admin = an_actor(Role.doctor), an_actor(Role.doctor), an_actor(Role.admin)
    draft = _Prescription(doctor.id, "draft")
    assert policy.allowed_actions(doctor, draft) == {"issue", "cancel"}
    assert policy.allowed_actions(other, draft) == set()
    assert policy.allowed_actions(admin, draft) == {"cancel"}
    issued = _Prescription(doctor.id, "issued", "ready")
    assert policy.allowed_actions(doctor, issued) == {"cancel", "download"}
    assert policy.allowed_actions(an_actor(Role.patient), issued) == {"download"}
    assert "download" not in policy.allowed_actions(doctor, _Prescription(doctor.id, "issued"))
    cancelled = _Prescription(doctor.id, "cancelled", "ready")
    assert policy.allowed_actions(admin, cancelled) == {"download"}


def test_its_doctor_prescribes_during_or_after_the_appointment() -> None:
    doctor = an_actor(Role.doctor)
    for status, open_ in (("scheduled", False), ("in_progress", True), ("completed", True)):
        appointment = _Appointment(doctor.id, status)
        assert policy.prescribing_open(appointment) is open_
        assert policy.may_prescribe(doctor, appointment) is open_
    completed = _Appointment(doctor.id, "completed")
    assert not policy.may_prescribe(an_actor(Role.doctor), completed)
    assert not policy.may_prescribe(an_actor(Role.admin), completed)
