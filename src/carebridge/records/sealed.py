"""The health record's columns sealed with the keyring: ``<table>:<id>:<field>`` as associated
data, so a ciphertext copied to another row or column does not open; under the patient's
``medical`` data key."""

from __future__ import annotations

from carebridge.platform.crypto import KeyClass, SealedColumn


def _note(table: str, column: str = "note_sealed") -> SealedColumn:
    field = column.removesuffix("_sealed")
    return SealedColumn(
        table,
        column,
        lambda row: f"{table}:{row['id']}:{field}".encode(),
        key_class=KeyClass.medical,
        owner="patient_id",
    )


OBSERVATION_NOTE = _note("record_observations")
MEDICATION_INSTRUCTIONS = _note("record_medications", "instructions_sealed")
SYMPTOM_NOTE = _note("record_symptoms")
ALLERGY_NOTE = _note("record_allergies")
CONDITION_NOTE = _note("record_conditions")
IMMUNIZATION_NOTE = _note("record_immunizations")
EMERGENCY_REASON = _note("record_emergency_accesses", "reason_sealed")

SEALED_COLUMNS: tuple[SealedColumn, ...] = (
    OBSERVATION_NOTE,
    MEDICATION_INSTRUCTIONS,
    SYMPTOM_NOTE,
    ALLERGY_NOTE,
    CONDITION_NOTE,
    IMMUNIZATION_NOTE,
    EMERGENCY_REASON,
)
