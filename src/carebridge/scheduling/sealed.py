"""The scheduling columns sealed with the keyring: the reason for the visit
(``appointment:<id>:reason``)."""

from __future__ import annotations

from carebridge.platform.crypto import SealedColumn

REASON = SealedColumn(
    "appointments", "reason_sealed", lambda row: f"appointment:{row['id']}:reason".encode()
)

SEALED_COLUMNS: tuple[SealedColumn, ...] = (REASON,)
