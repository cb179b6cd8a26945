"""The record's documents page: the list (title, category, date, size) with download links, the
upload form (multipart, with the form's CSRF token among its fields, as a message's files are
sent) and a Delete button; a clinician's read-only list at
``/patients/{patient_id}/record/documents`` when the service lets them read documents.

Downloads go through ``records.documents.download`` under the browser's session: the same checks
and the same audit row (a clinician's download is a ``record.read`` naming the document) as the
API's, an attachment with the file's safe name.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from starlette.responses import Response

from carebridge.accounts.actors import Actor
from carebridge.platform.context import CallScope
from carebridge.platform.deps import Scope, Session
from carebridge.platform.errors import CareBridgeError, Invalid
from carebridge.platform.pagination import MAX_PAGE_SIZE
from carebridge.records import documents
from carebridge.records.document_schemas import DocumentCategory
from carebridge.records.models import Section
from carebridge.records.policy import may_write
from carebridge.web.callers import WebPatient, WebUser
from carebridge.web.forms import FormModel
from carebridge.web.pages import redirect, render
from carebridge.web.records import RecordView, opened_view, own_view, refused
from carebridge.web.session import Csrf

router = APIRouter(include_in_schema=False)

DONE = {"added": "Document added.", "deleted": "Document deleted."}
CATEGORIES = {
    DocumentCategory.lab_result: "Lab result",
    DocumentCategory.letter: "Letter",
    DocumentCategory.imaging: "Imaging",
    DocumentCategory.report: "Report",
    DocumentCategory.other: "Other",
}


def size_of(size: int) -> str:
    """``"812 bytes"``, ``"14 KB"``, ``"2.3 MB"``."""
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


async def documents_page(
    request: Request,
    actor: Actor,
    db: Session,
    scope: CallScope,
    view: RecordView,
    *,
    cursor: str | None = None,
    status_code: int = 200,
    **values: Any,
) -> Response:
    """The documents newest first (404 for a caller who may not read them) and the patient's
    upload form (a clinician's view is read-only)."""
    page = await documents.list_documents(
        db, scope, view.subject, cursor=cursor, limit=MAX_PAGE_SIZE
    )
    values.setdefault("notice", DONE.get(request.query_params.get("done") or ""))
    return render(
        request,
        "records/documents.html",
        actor,
        status_code=status_code,
        view=view,
        documents=page.items,
        next_cursor=page.next_cursor,
        may_add=view.own and may_write(view.subject, Section.documents),
        categories=CATEGORIES,
        size_of=size_of,
        **values,
    )


class DocumentForm(FormModel):
    title: str = ""
    category: str = ""
    dated_on: str = ""


def _upload(form: DocumentForm, file: UploadFile | None, data: bytes) -> documents.DocumentUpload:
    """The form's document as the service takes it (its title is checked there)."""
    if file is None or not (file.filename or data):
        raise Invalid("Choose a file to upload.", code="attachment_empty")
    try:
        category = DocumentCategory(form.category.strip() or DocumentCategory.other)
    except ValueError:
        raise Invalid("Category: one of the list.", code="bad_category") from None
    try:
        dated_on = date.fromisoformat(form.dated_on.strip()) if form.dated_on.strip() else None
    except ValueError:
        raise Invalid("Date: a date such as 2026-03-29.", code="invalid_date") from None
    return documents.DocumentUpload(
        filename=file.filename or "",
        data=data,
        declared_type=file.content_type,
        category=category,
        title=form.title,
        dated_on=dated_on,
    )


@router.get("/records/documents")
async def own_documents_page(
    request: Request,
    actor: WebPatient,
    db: Session,
    scope: Scope,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    """Your documents, newest first, and the upload form."""
    return await documents_page(request, actor, db, scope, own_view(actor), cursor=cursor)


@router.post("/records/documents", dependencies=[Csrf])
async def upload_document(
    request: Request,
    actor: WebPatient,
    db: Session,
    scope: Scope,
    form: Annotated[DocumentForm, Form()],
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Upload a document (PDF, photo or text, checked by its content, scanned, encrypted at
    rest); a refused file is shown above the form, which keeps the title and category."""
    view = own_view(actor)
    data = await file.read(scope.settings.attachment_max_bytes + 1) if file is not None else b""
    try:
        await documents.add(db, scope, view.subject, _upload(form, file, data))
    except CareBridgeError as exc:
        status = await refused(db, exc)
        return await documents_page(
            request, actor, db, scope, view, status_code=status, error=exc.detail, form=form
        )
    return redirect("/records/documents?done=added")


@router.get("/records/documents/{document_id}/file")
async def own_document_file(
    document_id: uuid.UUID, actor: WebPatient, db: Session, scope: Scope
) -> Response:
    """Save one of your documents."""
    return await documents.download(db, scope, own_view(actor).subject, document_id)


@router.post("/records/documents/{document_id}/delete", dependencies=[Csrf])
async def delete_document(
    document_id: uuid.UUID, actor: WebPatient, db: Session, scope: Scope
) -> Response:
    """Delete a document and its file (someone else's: the 404 page)."""
    await documents.delete(db, scope, own_view(actor).subject, document_id)
    return redirect("/records/documents?done=deleted")


@router.get("/patients/{patient_id}/record/documents")
async def patient_documents_page(
    request: Request,
    patient_id: uuid.UUID,
    actor: WebUser,
    db: Session,
    scope: Scope,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    """A clinician reads a patient's documents (audited by the service)."""
    view = await opened_view(request, actor, db, scope, patient_id)
    if isinstance(view, Response):
        return view
    return await documents_page(request, actor, db, scope, view, cursor=cursor)


@router.get("/patients/{patient_id}/record/documents/{document_id}/file")
async def patient_document_file(
    request: Request,
    patient_id: uuid.UUID,
    document_id: uuid.UUID,
    actor: WebUser,
    db: Session,
    scope: Scope,
) -> Response:
    """A clinician saves a patient's document (audited: a read naming the document)."""
    view = await opened_view(request, actor, db, scope, patient_id)
    if isinstance(view, Response):
        return view
    return await documents.download(db, scope, view.subject, document_id)
