"""The patient's conversations in their data export: every conversation they are the patient of
or a member of, its members and messages (opened), and the files sent in it (opened from the
sealed storage; a file refused by the malware scan is listed, not included)."""

from __future__ import annotations

import uuid

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.messaging.attachment_models import Attachment
from carebridge.messaging.attachment_views import SERVED, aad
from carebridge.messaging.models import Conversation, ConversationMember, Message
from carebridge.messaging.sealed import BODY
from carebridge.platform.context import CallScope
from carebridge.platform.exporting import DomainExport, SealedFile, rows_of
from carebridge.platform.storage import sealed_storage_for


async def export_patient(db: AsyncSession, scope: CallScope, patient_id: uuid.UUID) -> DomainExport:
    opener = scope.keyring.open_text
    member_of = select(ConversationMember.conversation_id).where(
        ConversationMember.user_id == patient_id
    )
    conversations = list(
        await db.scalars(
            select(Conversation)
            .where(or_(Conversation.patient_id == patient_id, Conversation.id.in_(member_of)))
            .order_by(Conversation.created_at)
        )
    )
    ids = [row.id for row in conversations]
    members = await db.scalars(
        select(ConversationMember).where(ConversationMember.conversation_id.in_(ids))
    )
    messages = await db.scalars(
        select(Message)
        .where(Message.conversation_id.in_(ids))
        .order_by(Message.conversation_id, Message.seq)
    )
    attachments = list(
        await db.scalars(
            select(Attachment)
            .where(Attachment.conversation_id.in_(ids))
            .order_by(Attachment.created_at)
        )
    )
    export = DomainExport(
        {
            "conversations": rows_of(conversations, opener),
            "members": rows_of(members, opener),
            "messages": rows_of(messages, opener, sealed=(BODY,), omit=("client_id",)),
            "attachments": rows_of(
                attachments, opener, omit=("storage_key", "thumbnail_key", "signature")
            ),
        }
    )
    await export.add_sealed_files(
        sealed_storage_for(scope.settings, scope.keyring),
        "messaging",
        (
            SealedFile(row.id, row.filename, row.storage_key, aad(row.id))
            for row in attachments
            if row.scan_state in SERVED
        ),
    )
    return export
