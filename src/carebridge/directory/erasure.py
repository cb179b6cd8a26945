"""What erasing a patient does to the directory (``platform/erasure.py``): their profile (date of
birth, address, emergency contact) goes at once."""

from __future__ import annotations

from carebridge.platform.erasure import ErasureRule

ERASURE_RULES: tuple[ErasureRule, ...] = (
    ErasureRule(
        "patient_profiles", "delete", "keep", "Identifying details.", where="user_id = :patient"
    ),
    ErasureRule(
        "doctor_profiles",
        "keep",
        "keep",
        "A clinician's profile, not a patient's data.",
        where="FALSE",
    ),
    ErasureRule(
        "nurse_profiles",
        "keep",
        "keep",
        "A clinician's profile, not a patient's data.",
        where="FALSE",
    ),
)
