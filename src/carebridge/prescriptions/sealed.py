"""The prescriptions columns sealed with the keyring: ``prescription:<id>:<field>`` as associated
data. Re-sealing an issued prescription is allowed by its immutability trigger only while
``carebridge.reencrypt`` is on, which ``carebridge reencrypt`` sets for each batch."""

from __future__ import annotations

from carebridge.platform.crypto import SealedColumn


def _field(field: str) -> SealedColumn:
    return SealedColumn(
        "prescriptions",
        f"{field}_sealed",
        lambda row: f"prescription:{row['id']}:{field}".encode(),
    )


DIAGNOSIS = _field("diagnosis")
NOTES = _field("notes")

SEALED_COLUMNS: tuple[SealedColumn, ...] = (DIAGNOSIS, NOTES)
