"""What the audit tests share."""

from __future__ import annotations

# The kinds of object that are a patient's data: every audit row about one names its patient
# (``subject_id``; docs/compliance.md).
PATIENT_OBJECTS = frozenset(
    {
        "patient_record",
        "appointment",
        "conversation",
        "message",
        "attachment",
        "home_visit",
        "prescription",
        "patient_profile",
        "call",
    }
)
