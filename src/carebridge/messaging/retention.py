"""How long messaging keeps what was said (``platform/retention.py``): the text and files of
the messages of conversations closed longer ago than the period.

A message past its period becomes a tombstone, as when its sender deletes it
(``service.delete_message``): its sealed text is cleared, ``deleted_at`` set with no
``deleted_by`` (nobody deleted it: its time ran out), and its attachments go with it (rows now,
sealed files from storage after the commit). The conversation, its members and each message's
number, sender and times stay: who spoke to whom and when is part of the care record. Each
conversation cleared is audited (``conversation.content_cleared``, its patient the subject).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Row, and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.compliance.service import record
from carebridge.messaging.attachment_views import discard_attachments
from carebridge.messaging.models import Conversation, Message
from carebridge.platform.context import CallScope
from carebridge.platform.retention import BATCH_ROWS, DataClass


def _past_period(cutoff: datetime) -> ColumnElement[bool]:
    return and_(
        Message.body_sealed.is_not(None),
        Message.conversation_id.in_(select(Conversation.id).where(Conversation.closed_at < cutoff)),
    )


async def clear_closed_messages(
    db: AsyncSession, scope: CallScope, cutoff: datetime, dry_run: bool
) -> int:
    """Clear the text and files of messages in conversations closed before ``cutoff`` (at most
    a batch; rows another transaction holds are skipped); a dry run counts them all."""
    condition = _past_period(cutoff)
    if dry_run:
        return int(await db.scalar(select(func.count(Message.id)).where(condition)) or 0)
    rows = (
        await db.execute(
            select(Message.id, Message.conversation_id, Conversation.patient_id)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(condition)
            .order_by(Message.id)
            .limit(BATCH_ROWS)
            .with_for_update(of=Message, skip_locked=True)
        )
    ).all()
    if not rows:
        return 0
    ids = [row.id for row in rows]
    await db.execute(
        update(Message)
        .where(Message.id.in_(ids))
        .values(body_sealed=None, deleted_at=datetime.now(UTC), deleted_by=None)
        .execution_options(synchronize_session=False)
    )
    await discard_attachments(db, scope, ids)
    await _audit(db, scope, rows)
    return len(ids)


async def _audit(
    db: AsyncSession, scope: CallScope, rows: Sequence[Row[uuid.UUID, uuid.UUID, uuid.UUID]]
) -> None:
    """One audit row per conversation cleared, naming its patient: a write of health data."""
    cleared = Counter((row.conversation_id, row.patient_id) for row in rows)
    for (conversation_id, patient_id), count in cleared.items():
        await record(
            db,
            action="conversation.content_cleared",
            resource_type="conversation",
            resource_id=conversation_id,
            subject_id=patient_id,
            context=scope.origin,
            messages=count,
            reason="retention",
        )


RETENTION = (
    DataClass(
        name="message_content",
        description="The text and attached files of messages, in conversations closed longer "
        "ago than the period (the messages' numbers, senders and times stay)",
        where="messages.body_sealed, message_attachments and their files in storage",
        setting="retention_message_content_days",
        unit="days",
        legal_basis="Medical record retention per national law (consultation content is part "
        "of the patient's record); GDPR Art. 5(1)(e) storage limitation after it",
        purge=clear_closed_messages,
    ),
)
