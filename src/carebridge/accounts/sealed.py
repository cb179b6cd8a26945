"""The accounts columns sealed with the keyring (associated data as in tokens.py and mfa.py)."""

from __future__ import annotations

from carebridge.platform.crypto import SealedColumn

SEALED_COLUMNS: tuple[SealedColumn, ...] = (
    SealedColumn(
        "signing_keys",
        "private_key",
        lambda row: str(row["kid"]).encode(),
        reads=("kid",),
    ),
    SealedColumn("users", "totp_secret", lambda row: row["id"].bytes),
)
