"""The accounts columns sealed with the keyring: a signing key's private half (its kid as
associated data) and a user's TOTP secret (the user id)."""

from __future__ import annotations

from carebridge.platform.crypto import SealedColumn

PRIVATE_KEY = SealedColumn(
    "signing_keys", "private_key", lambda row: str(row["kid"]).encode(), reads=("kid",)
)
TOTP_SECRET = SealedColumn("users", "totp_secret", lambda row: row["id"].bytes)

SEALED_COLUMNS: tuple[SealedColumn, ...] = (PRIVATE_KEY, TOTP_SECRET)
