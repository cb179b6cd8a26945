"""Health record API, documents: the patient uploads, lists, downloads and deletes under
``/records/documents``; a clinician lists and downloads under
``/patients/{patient_id}/records/documents`` (audited)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Response, UploadFile

from carebridge.platform.deps import Scope, Session
from carebridge.platform.errors import (
    Forbidden,
    Invalid,
    NotFound,
    ServiceUnavailable,
    TooLarge,
    Unauthenticated,
)
from carebridge.platform.inputs import Day
from carebridge.platform.pagination import DEFAULT_PAGE_SIZE, PageOut
from carebridge.platform.problems import problem_responses
from carebridge.records import documents
from carebridge.records.deps import OwnRecord, PatientRecord
from carebridge.records.document_schemas import DocumentCategory, DocumentOut
from carebridge.records.policy import Subject
from carebridge.records.routes import Cursor, Limit

router = APIRouter(tags=["records"])
_READ = problem_responses(Unauthenticated, Forbidden, NotFound, Invalid)
_WRITE = problem_responses(
    Unauthenticated, Forbidden, NotFound, Invalid, TooLarge, ServiceUnavailable
)
_FILE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/octet-stream": {}}, "description": "The file."}
}


async def _list(
    db: Session, scope: Scope, subject: Subject, cursor: str | None, limit: int
) -> PageOut[DocumentOut]:
    page = await documents.list_documents(db, scope, subject, cursor=cursor, limit=limit)
    return PageOut(items=page.items, next_cursor=page.next_cursor)


@router.get("/records/documents", response_model=PageOut[DocumentOut], responses=_READ)
async def list_documents(
    subject: OwnRecord,
    db: Session,
    scope: Scope,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> PageOut[DocumentOut]:
    """Patient: your documents, newest first."""
    return await _list(db, scope, subject, cursor, limit)


@router.get(
    "/patients/{patient_id}/records/documents",
    response_model=PageOut[DocumentOut],
    responses=_READ,
)
async def read_documents(
    subject: PatientRecord,
    db: Session,
    scope: Scope,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> PageOut[DocumentOut]:
    """Clinician: a patient's documents, newest first (audited)."""
    return await _list(db, scope, subject, cursor, limit)


@router.post("/records/documents", status_code=201, response_model=DocumentOut, responses=_WRITE)
async def add_document(
    file: Annotated[UploadFile, File(description="The document.")],
    category: Annotated[DocumentCategory, Form()],
    title: Annotated[str, Form(min_length=1, max_length=documents.TITLE_LENGTH, pattern=r"\S")],
    subject: OwnRecord,
    db: Session,
    scope: Scope,
    dated_on: Annotated[Day | None, Form(description="The document's own date.")] = None,
) -> DocumentOut:
    """Patient: add a document (`multipart/form-data`: `file`, `category`, `title`, optional
    `dated_on`). Allowed: PDF, JPEG, PNG, WebP, HEIC (kept as JPEG) and plain text, decided by
    the content, at most `CAREBRIDGE_ATTACHMENT_MAX_BYTES`; photos are re-encoded without their
    metadata. Refused: 413 `attachment_too_large`; 422 `attachment_empty`,
    `attachment_type_not_allowed`, `attachment_name_mismatch`, `attachment_polyglot`,
    `attachment_damaged`, `document_infected`; 503 `document_scan_unavailable`. The file is
    encrypted at rest."""
    upload = documents.DocumentUpload(
        filename=file.filename or "",
        data=await file.read(scope.settings.attachment_max_bytes + 1),
        declared_type=file.content_type,
        category=category,
        title=title,
        dated_on=dated_on,
    )
    return await documents.add(db, scope, subject, upload)


@router.get(
    "/records/documents/{document_id}/file", response_class=Response, responses={**_FILE, **_READ}
)
async def download_document(
    document_id: uuid.UUID, subject: OwnRecord, db: Session, scope: Scope
) -> Response:
    """Patient: download one of your documents (`Content-Disposition: attachment`)."""
    return await documents.download(db, scope, subject, document_id)


@router.get(
    "/patients/{patient_id}/records/documents/{document_id}/file",
    response_class=Response,
    responses={**_FILE, **_READ},
)
async def read_document_file(
    document_id: uuid.UUID, subject: PatientRecord, db: Session, scope: Scope
) -> Response:
    """Clinician: download a patient's document (audited: a read naming the document)."""
    return await documents.download(db, scope, subject, document_id)


@router.delete("/records/documents/{document_id}", status_code=204, responses=_WRITE)
async def delete_document(
    document_id: uuid.UUID, subject: OwnRecord, db: Session, scope: Scope
) -> Response:
    """Patient: delete a document and its file."""
    await documents.delete(db, scope, subject, document_id)
    return Response(status_code=204)
