"""What erasing a patient does to their appointments (``platform/erasure.py``): the reminders
and the words they wrote (the reason, a cancellation's reason) go at once; that a consultation
took place, when and with whom, is part of the medical record, held."""

from __future__ import annotations

from carebridge.platform.erasure import ErasureRule

ERASURE_RULES: tuple[ErasureRule, ...] = (
    ErasureRule(
        "appointment_reminders",
        "delete",
        "keep",
        "Reminders to the patient.",
        where="recipient_id = :patient",
    ),
    ErasureRule(
        "appointments",
        "clear",
        "delete",
        "Consultations: medical record, held; the patient's own words go at once.",
        clear={"reason_sealed": "NULL", "cancel_reason": "NULL"},
    ),
    ErasureRule(
        "calendar_feeds",
        "keep",
        "keep",
        "A doctor's calendar feed, not a patient's data.",
        where="FALSE",
    ),
    ErasureRule(
        "doctor_schedules",
        "keep",
        "keep",
        "A doctor's schedule, not a patient's data.",
        where="FALSE",
    ),
)
