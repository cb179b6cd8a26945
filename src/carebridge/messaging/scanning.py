"""The malware scan of attachments (with ``CAREBRIDGE_CLAMD_URL``): one job per file, run by
``messaging/tasks.py``; the file is read back from storage, given to clamd, and marked
``clean`` or ``infected`` (its stored files then deleted), and its members see the answer live
(``attachment.scanned`` on the conversation's topic). A scan clamd cannot answer leaves the
file ``pending`` (never served) and is retried; the sweep re-queues files whose job was lost.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from carebridge.config import Settings
from carebridge.messaging.attachment_models import Attachment, ScanState
from carebridge.messaging.attachment_views import aad, attachment_out, audit
from carebridge.messaging.service import topic_of
from carebridge.platform.context import CallScope
from carebridge.platform.db import Database
from carebridge.platform.events import publish_after_commit
from carebridge.platform.malware import Clean, Infected, scanner_for
from carebridge.platform.storage import sealed_storage_for, storage_for


class ScanFailed(Exception):
    """clamd could not say (down, an error, no answer): the job is retried, the file stays
    pending and is not served."""


async def scan(database: Database, settings: Settings, attachment_id: uuid.UUID) -> str | None:
    """Scan one pending attachment with clamd and record the answer; the new state, or None
    when there is nothing to do (scanned already, deleted, or no clamd configured)."""
    scanner = scanner_for(settings)
    if scanner is None:
        return None
    async with database.transaction() as db:
        row = await db.get(Attachment, attachment_id)
        if row is None or row.scan_state != ScanState.pending:
            return None
        scope = CallScope.system(settings)
        data = await sealed_storage_for(settings, scope.keyring).get(
            row.storage_key, associated_data=aad(row.id), db=db
        )
    result = await scanner.scan(data)
    if isinstance(result, Clean):
        state, signature = ScanState.clean, None
    elif isinstance(result, Infected):
        state, signature = ScanState.infected, result.signature
    else:
        raise ScanFailed(result.reason)
    async with database.transaction() as db:
        updated = await db.scalar(
            update(Attachment)
            .where(Attachment.id == attachment_id, Attachment.scan_state == ScanState.pending)
            .values(scan_state=str(state), scanned_at=datetime.now(UTC), signature=signature)
            .returning(Attachment)
            .execution_options(synchronize_session=False)
        )
        if updated is None:
            return None
        # The members' pages replace "being checked" with the file, or say it was blocked.
        shown = attachment_out(updated).model_dump(mode="json")
        shown["message_id"] = str(updated.message_id)
        publish_after_commit(db, topic_of(updated.conversation_id), "attachment.scanned", shown)
        if state == ScanState.infected:
            await audit(db, scope, None, "attachment.infected", updated, signature=signature)
            await _delete_files(settings, updated)
    return str(state)


async def _delete_files(settings: Settings, row: Attachment) -> None:
    """An infected file is kept nowhere (its row stays, to say it was blocked)."""
    storage = storage_for(settings)
    for key in (row.storage_key, row.thumbnail_key):
        if key is not None:
            await storage.delete(key)


async def pending_scans(
    database: Database, *, older_than: timedelta, limit: int = 500
) -> list[uuid.UUID]:
    """Attachments still waiting for their scan ``older_than`` after they were sent."""
    async with database.transaction() as db:
        rows = await db.scalars(
            select(Attachment.id)
            .where(
                Attachment.scan_state == ScanState.pending,
                Attachment.created_at < datetime.now(UTC) - older_than,
            )
            .order_by(Attachment.created_at)
            .limit(limit)
        )
        return list(rows)
