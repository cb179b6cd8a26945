"""The messaging columns sealed with the keyring: a message's text, bound to the message and its
conversation (``message:<id>:<conversation id>``), so a ciphertext copied to another message or
another conversation does not open."""

from __future__ import annotations

from carebridge.platform.crypto import SealedColumn

BODY = SealedColumn(
    "messages",
    "body_sealed",
    lambda row: f"message:{row['id']}:{row['conversation_id']}".encode(),
    reads=("conversation_id",),
)

SEALED_COLUMNS: tuple[SealedColumn, ...] = (BODY,)
