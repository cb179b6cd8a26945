"""The scheduling columns sealed with the keyring: the reason for the visit
(``appointment:<id>:reason``), under the patient's ``personal`` data key."""

from __future__ import annotations

from carebridge.platform.crypto import KeyClass, SealedColumn

REASON = SealedColumn(
    "appointments",
    "reason_sealed",
    lambda row: f"appointment:{row['id']}:reason".encode(),
    key_class=KeyClass.personal,
    owner="patient_id",
)

SEALED_COLUMNS: tuple[SealedColumn, ...] = (REASON,)
