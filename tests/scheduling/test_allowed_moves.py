"""What the pages offer on an appointment (``lifecycle.allowed_moves``): the moves of
``moves_now``, paying while the booking is held for its patient, adding to a calendar unless
cancelled."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from carebridge.accounts.models import Role
from carebridge.config import Settings
from carebridge.scheduling import lifecycle
from tests.factories.users import an_actor

NOW = datetime(2030, 5, 6, 9, 0, tzinfo=UTC)


@dataclass
class _Appointment:
    status: str
    patient_id: uuid.UUID
    starts_at: datetime = NOW + timedelta(days=3)
    hold_expires_at: datetime | None = None
    time_zone: str = "UTC"
    doctor_id: uuid.UUID = field(default_factory=uuid.uuid4)


def test_only_its_patient_pays_and_only_while_the_hold_lasts(settings: Settings) -> None:
    patient, doctor = an_actor(Role.patient), an_actor(Role.doctor)
    held = _Appointment("pending_payment", patient.id, hold_expires_at=NOW + timedelta(minutes=5))
    assert "pay" in lifecycle.allowed_moves(settings, patient, held, NOW)
    assert "pay" not in lifecycle.allowed_moves(settings, doctor, held, NOW)
    lapsed = NOW + timedelta(minutes=5)
    assert "pay" not in lifecycle.allowed_moves(settings, patient, held, lapsed)
    booked = _Appointment("scheduled", patient.id)
    assert "pay" not in lifecycle.allowed_moves(settings, patient, booked, NOW)


def test_the_moves_are_those_of_moves_now_and_a_calendar_unless_cancelled(
    settings: Settings,
) -> None:
    patient = an_actor(Role.patient)
    booked = _Appointment("scheduled", patient.id)
    offered = lifecycle.allowed_moves(settings, patient, booked, NOW)
    assert offered == {**lifecycle.moves_now(settings, patient, booked, NOW), "calendar": None}
    cancelled = _Appointment("cancelled", patient.id)
    assert lifecycle.allowed_moves(settings, patient, cancelled, NOW) == {}
