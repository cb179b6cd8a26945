"""What erasing a patient does to their conversations (``platform/erasure.py``): the messages,
their attachments (the files too) and the conversations go; the clinical conclusions live in the
health record and prescriptions, which are held."""

from __future__ import annotations

from carebridge.platform.erasure import ErasureRule

_CORRESPONDENCE = "The patient's correspondence: erased with the account."
_IN_CONVERSATION = "conversation_id IN (SELECT id FROM conversations WHERE patient_id = :patient)"

ERASURE_RULES: tuple[ErasureRule, ...] = (
    ErasureRule(
        "message_attachments",
        "delete",
        "keep",
        _CORRESPONDENCE,
        where=_IN_CONVERSATION,
        files=("storage_key", "thumbnail_key"),
    ),
    ErasureRule("messages", "delete", "keep", _CORRESPONDENCE, where=_IN_CONVERSATION),
    ErasureRule(
        "conversation_members",
        "delete",
        "keep",
        _CORRESPONDENCE,
        where=f"user_id = :patient OR {_IN_CONVERSATION}",
    ),
    ErasureRule("conversations", "delete", "keep", _CORRESPONDENCE),
    ErasureRule(
        "messaging_connections", "delete", "keep", "A live connection.", where="user_id = :patient"
    ),
)
