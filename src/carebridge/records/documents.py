"""The record's documents: lab results, letters, images, as files.

A file is checked by its content (``platform.files.inspect``, in a thread: it is CPU-bound; 413
too large, 422 with that module's codes for a refused type), scanned for malware when clamd is
configured (``platform.malware``: the upload waits for the answer; 422 ``document_infected``,
503 ``document_scan_unavailable`` when clamd cannot say), then sealed with the keyring
(``SealedStorage``, associated data ``record-document:<id>``) so the storage only holds
ciphertext. The patient adds and deletes; a clinician reads the list and downloads (audited: a
download is a ``record.read`` naming the document). A deleted document's file is removed from the
storage once the deletion has committed.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from carebridge.platform import files, malware
from carebridge.platform.context import CallScope
from carebridge.platform.crypto import KeyClass
from carebridge.platform.db import after_commit
from carebridge.platform.downloads import file_response
from carebridge.platform.errors import Invalid, NotFound
from carebridge.platform.pagination import Page, keyset_page
from carebridge.platform.storage import sealed_storage_for, storage_for
from carebridge.records import access
from carebridge.records.document_schemas import DocumentCategory, DocumentOut
from carebridge.records.models import RecordDocument, Section
from carebridge.records.policy import Subject

TITLE_LENGTH = 200


@dataclass(frozen=True)
class DocumentUpload:
    """A document as the patient sent it."""

    filename: str
    data: bytes
    declared_type: str | None
    category: DocumentCategory
    title: str
    dated_on: date | None


def aad(document_id: uuid.UUID) -> bytes:
    return f"record-document:{document_id}".encode()


def out(row: RecordDocument) -> DocumentOut:
    return DocumentOut.model_validate(row, from_attributes=True)


def _not_found() -> NotFound:
    return NotFound("No such document.", code="document_not_found")


def _title(title: str) -> str:
    cleaned = title.strip()
    if not cleaned or len(cleaned) > TITLE_LENGTH:
        raise Invalid(
            f"Give the document a title of 1 to {TITLE_LENGTH} characters.", code="bad_title"
        )
    return cleaned


async def add(
    db: AsyncSession, scope: CallScope, subject: Subject, upload: DocumentUpload
) -> DocumentOut:
    """Check, scan, seal and store the file, and write its row (nothing of it when refused)."""
    title = _title(upload.title)
    kept = await asyncio.to_thread(
        files.inspect,
        upload.filename,
        upload.data,
        upload.declared_type,
        max_bytes=scope.settings.attachment_max_bytes,
    )
    await malware.check_clean(scope.settings, kept.data, what="document")
    document_id = uuid.uuid4()
    row = RecordDocument(
        id=document_id,
        patient_id=subject.patient_id,
        category=upload.category.value,
        title=title,
        filename=kept.filename,
        content_type=kept.file_type.media_type,
        size=len(kept.data),
        storage_key=f"records/{subject.patient_id}/documents/{document_id}",
        dated_on=upload.dated_on,
        recorded_by_id=subject.actor.id,
    )
    await access.check_write(db, scope, subject, Section.documents, row.id, "create")
    db.add(row)
    await db.flush()
    await sealed_storage_for(scope.settings, scope.keyring).put(
        row.storage_key,
        kept.data,
        associated_data=aad(row.id),
        owner=(subject.patient_id, KeyClass.medical),
        db=db,
    )
    await db.refresh(row)
    return out(row)


async def list_documents(
    db: AsyncSession, scope: CallScope, subject: Subject, *, cursor: str | None, limit: int
) -> Page[DocumentOut]:
    """Newest first."""
    await access.check_read(db, scope, subject, Section.documents)
    statement = select(RecordDocument).where(RecordDocument.patient_id == subject.patient_id)
    page = await keyset_page(db, statement, RecordDocument, cursor=cursor, limit=limit)
    return Page(items=[out(row) for row in page.items], next_cursor=page.next_cursor)


async def _get(db: AsyncSession, subject: Subject, document_id: uuid.UUID) -> RecordDocument:
    row: RecordDocument | None = await db.scalar(
        select(RecordDocument).where(
            RecordDocument.id == document_id, RecordDocument.patient_id == subject.patient_id
        )
    )
    if row is None:
        raise _not_found()
    return row


async def download(
    db: AsyncSession, scope: CallScope, subject: Subject, document_id: uuid.UUID
) -> Response:
    """The file, to save under its safe name; a clinician's download is a ``record.read`` of
    the documents section naming the document."""
    await access.check_read(db, scope, subject, Section.documents, object_id=str(document_id))
    row = await _get(db, subject, document_id)
    content = await sealed_storage_for(scope.settings, scope.keyring).get(
        row.storage_key, associated_data=aad(row.id), db=db
    )
    return file_response(content, row.content_type, row.filename)


async def delete(
    db: AsyncSession, scope: CallScope, subject: Subject, document_id: uuid.UUID
) -> None:
    """The row now; the stored file once the deletion has committed (a failure then leaves an
    unreadable ciphertext with no row, logged by ``after_commit``)."""
    await access.check_write(db, scope, subject, Section.documents, document_id, "delete")
    row = await _get(db, subject, document_id)
    key = row.storage_key
    await db.delete(row)
    storage = storage_for(scope.settings)

    async def remove_file() -> None:
        await storage.delete(key)

    remove_file.__qualname__ = "records.remove_document_file"
    after_commit(db, remove_file)
