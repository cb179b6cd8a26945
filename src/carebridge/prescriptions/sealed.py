"""The prescriptions columns sealed with the keyring: ``prescription:<id>:<field>`` as associated
data. Re-sealing an issued prescription is allowed by its immutability trigger only while
``carebridge.reencrypt`` is on, which ``carebridge reencrypt`` sets for each batch. Under the
patient's ``medical`` data key."""

from __future__ import annotations

from carebridge.platform.crypto import KeyClass, SealedColumn


def _field(field: str) -> SealedColumn:
    return SealedColumn(
        "prescriptions",
        f"{field}_sealed",
        lambda row: f"prescription:{row['id']}:{field}".encode(),
        key_class=KeyClass.medical,
        owner="patient_id",
    )


DIAGNOSIS = _field("diagnosis")
NOTES = _field("notes")

SEALED_COLUMNS: tuple[SealedColumn, ...] = (DIAGNOSIS, NOTES)
