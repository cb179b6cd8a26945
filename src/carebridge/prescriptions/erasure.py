"""What erasing a patient does to their prescriptions (``platform/erasure.py``): nothing at
once: a prescription is a medical and legal record, held until the retention period ends (the
immutability trigger lets only that purge delete an issued one)."""

from __future__ import annotations

from carebridge.platform.erasure import ErasureRule

ERASURE_RULES: tuple[ErasureRule, ...] = (
    ErasureRule(
        "prescriptions",
        "keep",
        "delete",
        "Prescriptions: medical and legal record, held (CAREBRIDGE_MEDICAL_RETENTION_YEARS).",
        files=("pdf_key",),
    ),
)
