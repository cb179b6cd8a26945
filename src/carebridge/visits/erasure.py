"""What erasing a patient does to their home visits (``platform/erasure.py``): where they live
(the address, access notes, the map point, the nurse's track and positions near the home) goes at
once; the visit, its report and photos are care given, held until the retention period ends."""

from __future__ import annotations

from carebridge.platform.erasure import ErasureRule

_OF_VISIT = "visit_id IN (SELECT id FROM home_visits WHERE patient_id = :patient)"
_CARE = "Care given at home: part of the medical record, held (CAREBRIDGE_MEDICAL_RETENTION_YEARS)."

ERASURE_RULES: tuple[ErasureRule, ...] = (
    ErasureRule(
        "visit_positions", "delete", "keep", "The nurse's track to the home.", where=_OF_VISIT
    ),
    ErasureRule("visit_photos", "keep", "delete", _CARE, where=_OF_VISIT, files=("storage_key",)),
    ErasureRule("visit_reports", "keep", "delete", _CARE, where=_OF_VISIT),
    ErasureRule(
        "visit_transitions",
        "clear",
        "delete",
        _CARE + " Positions and reasons, which can say where the patient lives, go at once.",
        where=_OF_VISIT,
        clear={"lat": "NULL", "lng": "NULL", "accuracy_m": "NULL", "reason_sealed": "NULL"},
    ),
    ErasureRule(
        "home_visits",
        "clear",
        "delete",
        _CARE + " The address, access notes, reason and map point go at once.",
        clear={
            "address_sealed": "''::bytea",
            "access_notes_sealed": "NULL",
            "reason_sealed": "NULL",
            "lat": "NULL",
            "lng": "NULL",
        },
    ),
    ErasureRule(
        "visit_nurses",
        "keep",
        "keep",
        "A nurse's roster entry, not a patient's data.",
        where="FALSE",
    ),
)
