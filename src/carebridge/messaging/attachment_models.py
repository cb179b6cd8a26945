"""Files sent with messages: one row per file, the file itself sealed in storage.

The cleaned file (an image re-encoded without metadata, a PDF or text as sent) and an image's
thumbnail are sealed with the keyring before they reach storage (``platform/storage.py``
``SealedStorage``), bound to their storage key and to ``attachment:<id>``: a file copied to
another attachment does not open. ``scan_state`` says whether it may be downloaded (see
``messaging/attachments.py``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from carebridge.platform.models import Model


class ScanState(StrEnum):
    pending = "pending"  # waiting for clamd: not served
    clean = "clean"  # clamd answered OK: served
    infected = "infected"  # clamd found malware: never served, the stored file deleted
    not_scanned = "not_scanned"  # no clamd configured when it was sent: served at once


class Attachment(Model):
    __tablename__ = "message_attachments"

    message_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    uploader_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    # Its place in the message (0..4).
    position: Mapped[int]
    media_type: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(160))
    size: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int | None]
    height: Mapped[int | None]
    storage_key: Mapped[str] = mapped_column(String(200))
    thumbnail_key: Mapped[str | None] = mapped_column(String(200))
    scan_state: Mapped[str] = mapped_column(String(16))
    scanned_at: Mapped[datetime | None]
    # What clamd named (an infected file): shown to no one but the audit trail and operators.
    signature: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        CheckConstraint(
            "scan_state IN ('pending', 'clean', 'infected', 'not_scanned')", name="scan_state"
        ),
        CheckConstraint("position >= 0 AND position < 5", name="position"),
        CheckConstraint("size > 0", name="size"),
        Index("uq_message_attachments_message_position", "message_id", "position", unique=True),
        Index("ix_message_attachments_conversation_id", "conversation_id"),
        # The sweep's look-up: the few files still waiting for their scan.
        Index(
            "ix_message_attachments_pending",
            "created_at",
            postgresql_where=text("scan_state = 'pending'"),
        ),
    )
