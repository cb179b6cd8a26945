"""What the review page offers (``reviews.policy.review_actions``): the predicates the service
refuses by."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from carebridge.accounts.models import Role
from carebridge.reviews.policy import review_actions, reviewable
from carebridge.reviews.schemas import ReviewOut
from tests.factories.users import an_actor

NOW = datetime(2030, 5, 6, 9, 0, tzinfo=UTC)


@dataclass
class _Appointment:
    status: str
    patient_id: uuid.UUID = field(default_factory=uuid.uuid4)
    doctor_id: uuid.UUID = field(default_factory=uuid.uuid4)


def _review(appointment: _Appointment, **changes: object) -> ReviewOut:
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "appointment_id": uuid.uuid4(),
        "doctor_id": appointment.doctor_id,
        "patient_id": appointment.patient_id,
        "rating": 4,
        "comment": None,
        "created_at": NOW,
        "edited_at": None,
        "editable_until": NOW + timedelta(days=1),
        "reply": None,
        "replied_at": None,
        "hidden": False,
        "hidden_at": None,
        "hidden_reason": None,
    }
    return ReviewOut.model_validate(values | changes)


def test_each_person_is_offered_their_own_actions() -> None:
    completed = _Appointment("completed")
    patient = an_actor(Role.patient, completed.patient_id)
    doctor = an_actor(Role.doctor, completed.doctor_id)
    admin = an_actor(Role.admin)
    assert reviewable(completed)
    assert not reviewable(_Appointment("scheduled"))
    assert review_actions(patient, completed, None, NOW) == {"write"}
    assert review_actions(patient, _Appointment("scheduled", patient.id), None, NOW) == set()
    assert review_actions(doctor, completed, None, NOW) == set()
    shown = _review(completed)
    assert review_actions(patient, completed, shown, NOW) == {"edit"}
    assert review_actions(patient, completed, shown, NOW + timedelta(days=2)) == set()
    assert review_actions(doctor, completed, shown, NOW) == {"reply"}
    assert review_actions(doctor, completed, _review(completed, reply="Thanks"), NOW) == set()
    assert review_actions(admin, completed, shown, NOW) == {"hide"}
    hidden = _review(completed, hidden=True)
    assert review_actions(admin, completed, hidden, NOW) == {"show"}
    assert review_actions(patient, completed, hidden, NOW) == set()
