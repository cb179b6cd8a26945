"""What erasing a patient does to their health record (``platform/erasure.py``): the grants they
gave go at once; the record itself is what the law requires the clinic to keep: held until
``CAREBRIDGE_MEDICAL_RETENTION_YEARS`` after the erasure, then deleted with its documents."""

from __future__ import annotations

from carebridge.platform.erasure import ErasureRule

_HELD = "The medical record: held (CAREBRIDGE_MEDICAL_RETENTION_YEARS), then deleted."

ERASURE_RULES: tuple[ErasureRule, ...] = (
    ErasureRule("record_grants", "delete", "keep", "Access the patient gave to others."),
    ErasureRule(
        "record_emergency_accesses",
        "keep",
        "delete",
        "Who opened the record in an emergency and why: held with the record.",
    ),
    ErasureRule("record_documents", "keep", "delete", _HELD, files=("storage_key",)),
    ErasureRule("record_medication_doses", "keep", "delete", _HELD),
    ErasureRule("record_medications", "keep", "delete", _HELD),
    ErasureRule("record_observations", "keep", "delete", _HELD),
    ErasureRule("record_symptoms", "keep", "delete", _HELD),
    ErasureRule("record_allergies", "keep", "delete", _HELD),
    ErasureRule("record_conditions", "keep", "delete", _HELD),
    ErasureRule("record_immunizations", "keep", "delete", _HELD),
)
