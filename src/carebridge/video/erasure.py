"""What erasing a patient does to their calls (``platform/erasure.py``): their participation
and measurements go; that a call of the appointment took place is held with the appointment."""

from __future__ import annotations

from carebridge.platform.erasure import ErasureRule

_PARTICIPANT = "participant_id IN (SELECT id FROM call_participants WHERE user_id = :patient)"
_OF_APPOINTMENT = "appointment_id IN (SELECT id FROM appointments WHERE patient_id = :patient)"

ERASURE_RULES: tuple[ErasureRule, ...] = (
    ErasureRule("call_quality", "delete", "keep", "Connection measurements.", where=_PARTICIPANT),
    ErasureRule(
        "call_participants", "delete", "keep", "Who was in a call.", where="user_id = :patient"
    ),
    ErasureRule(
        "call_guests",
        "delete",
        "keep",
        "People the patient invited to their consultations.",
        where=f"user_id = :patient OR {_OF_APPOINTMENT}",
    ),
    ErasureRule(
        "calls",
        "keep",
        "delete",
        "That a consultation took place (times only): part of the medical record, held.",
        where=_OF_APPOINTMENT,
    ),
)
