"""The scheduling columns sealed with the keyring (associated data as in service.py)."""

from __future__ import annotations

from carebridge.platform.crypto import SealedColumn

SEALED_COLUMNS: tuple[SealedColumn, ...] = (
    SealedColumn(
        "appointments", "reason_sealed", lambda row: f"appointment:{row['id']}:reason".encode()
    ),
)
