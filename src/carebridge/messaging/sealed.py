"""The messaging columns sealed with the keyring: a message's text, bound to the message and its
conversation (``message:<id>:<conversation id>``), so a ciphertext copied to another message or
another conversation does not open. Under the ``personal`` data key of the conversation's
patient (a message has no patient column: the code that seals passes it)."""

from __future__ import annotations

from carebridge.platform.crypto import KeyClass, OwnerVia, SealedColumn

BODY = SealedColumn(
    "messages",
    "body_sealed",
    lambda row: f"message:{row['id']}:{row['conversation_id']}".encode(),
    reads=("conversation_id",),
    key_class=KeyClass.personal,
    owner_via=OwnerVia("conversation_id", "conversations"),
)

SEALED_COLUMNS: tuple[SealedColumn, ...] = (BODY,)
