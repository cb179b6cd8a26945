"""Attachments as members see them beside their messages (loaded for a page of messages in one
statement)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.compliance.service import record
from carebridge.messaging.attachment_models import Attachment, ScanState
from carebridge.messaging.attachment_schemas import AttachmentOut
from carebridge.messaging.models import Conversation
from carebridge.platform.context import CallScope
from carebridge.platform.db import after_commit
from carebridge.platform.storage import storage_for

# The states in which a file is served.
SERVED = frozenset({ScanState.clean, ScanState.not_scanned})


def attachment_out(row: Attachment) -> AttachmentOut:
    return AttachmentOut(
        id=row.id,
        filename=row.filename,
        media_type=row.media_type,
        size=row.size,
        width=row.width,
        height=row.height,
        has_thumbnail=row.thumbnail_key is not None,
        scan_state=row.scan_state,
        downloadable=row.scan_state in SERVED,
    )


async def attachments_of(
    db: AsyncSession, message_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[AttachmentOut]]:
    """The attachments of each of ``message_ids`` (those of a deleted message are gone with its
    text), in the order they were sent."""
    found: dict[uuid.UUID, list[AttachmentOut]] = {}
    if not message_ids:
        return found
    rows = await db.scalars(
        select(Attachment)
        .where(Attachment.message_id.in_(message_ids))
        .order_by(Attachment.message_id, Attachment.position)
    )
    for row in rows:
        found.setdefault(row.message_id, []).append(attachment_out(row))
    return found


async def discard_attachments(
    db: AsyncSession, scope: CallScope, message_ids: Sequence[uuid.UUID]
) -> None:
    """Deleted messages' files go with their text: their rows now, their sealed files from
    storage once the deletion has committed."""
    keys = (
        await db.execute(
            delete(Attachment)
            .where(Attachment.message_id.in_(message_ids))
            .returning(Attachment.storage_key, Attachment.thumbnail_key)
        )
    ).all()
    if not keys:
        return
    storage = storage_for(scope.settings)

    async def remove() -> None:
        for stored, thumbnail in keys:
            for key in (stored, thumbnail):
                if key is not None:
                    await storage.delete(key)

    remove.__qualname__ = "messaging.discard_attachment_files"
    after_commit(db, remove)


def aad(attachment_id: uuid.UUID) -> bytes:
    """The associated data an attachment's files are sealed with."""
    return f"attachment:{attachment_id}".encode()


async def patient_of(db: AsyncSession, conversation_id: uuid.UUID) -> uuid.UUID | None:
    """The patient of a conversation: the subject of its audit rows (from the session's
    identity map when the conversation is loaded already)."""
    conversation = await db.get(Conversation, conversation_id)
    return None if conversation is None else conversation.patient_id


async def audit(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor | None,
    action: str,
    row: Attachment,
    **extra: Any,
) -> None:
    """Who did what to which attachment: never its name or content."""
    await record(
        db,
        action=action,
        actor_id=None if actor is None else actor.id,
        actor_role=None if actor is None else str(actor.role),
        resource_type="attachment",
        resource_id=row.id,
        subject_id=await patient_of(db, row.conversation_id),
        context=scope.origin,
        conversation_id=str(row.conversation_id),
        message_id=str(row.message_id),
        media_type=row.media_type,
        **extra,
    )
