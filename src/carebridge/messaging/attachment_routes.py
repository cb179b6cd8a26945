"""Attachments API: a message sent with files, and the files' downloads. Members only (404 for
anyone else, administrators included, exactly as if the file did not exist)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Response, UploadFile

from carebridge.accounts.actors import AnyUser
from carebridge.messaging import attachments
from carebridge.messaging.schemas import MAX_TEXT, MessageOut
from carebridge.platform.deps import Scope, Session
from carebridge.platform.errors import Conflict, Invalid, NotFound, TooLarge, Unauthenticated
from carebridge.platform.problems import problem_responses

router = APIRouter(tags=["messaging"])
_SEND = problem_responses(Unauthenticated, NotFound, Conflict, Invalid, TooLarge)
_DOWNLOAD = problem_responses(Unauthenticated, NotFound, Conflict)


@router.post(
    "/conversations/{conversation_id}/attachments",
    status_code=201,
    response_model=MessageOut,
    responses=_SEND,
)
async def send_with_files(
    conversation_id: uuid.UUID,
    client_id: Annotated[
        uuid.UUID, Form(description="A UUID your client chooses for this message (retries).")
    ],
    files: Annotated[list[UploadFile], File(description="1 to 5 files.")],
    actor: AnyUser,
    db: Session,
    scope: Scope,
    response: Response,
    text: Annotated[str, Form(max_length=MAX_TEXT, description="Optional words.")] = "",
) -> MessageOut:
    """Send a message with 1 to 5 files (`multipart/form-data`: `client_id`, `files`, and an
    optional `text`). Allowed: PDF, JPEG, PNG, WebP, HEIC (kept as JPEG) and plain text,
    decided by the content; each at most `CAREBRIDGE_ATTACHMENT_MAX_BYTES` (10 MiB). Photos are
    re-encoded without their metadata (location, camera) and get a thumbnail. One refused file
    refuses the message, and nothing is stored: 413 `attachment_too_large`, 422
    `attachment_empty`, `attachment_type_not_allowed`, `attachment_name_mismatch`,
    `attachment_polyglot`, `attachment_damaged`, `attachment_too_many_pixels` (with `file`,
    the refused file's position), `too_many_attachments`. The same `client_id` again stores
    nothing and answers the first message (200). Each file's `scan_state` says when it can be
    downloaded."""
    uploads = await attachments.read_uploads(files, scope.settings.attachment_max_bytes)
    body = attachments.message_with_files(client_id, text)
    sent = await attachments.send_with_files(db, scope, actor, conversation_id, body, uploads)
    if not sent.created:
        response.status_code = 200
    return sent.message


_FILE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/octet-stream": {}}, "description": "The file."}
}


@router.get(
    "/attachments/{attachment_id}", response_class=Response, responses={**_FILE, **_DOWNLOAD}
)
async def download_attachment(
    attachment_id: uuid.UUID, actor: AnyUser, db: Session, scope: Scope
) -> Response:
    """Download a file of a conversation you are a member of (`Content-Disposition:
    attachment`, with its safe name). Audited. Codes: `attachment_not_found` (404),
    `attachment_scan_pending` (409, with `Retry-After`: still being checked for viruses),
    `attachment_infected` (409: blocked by the virus check, never served)."""
    found = await attachments.download(db, scope, actor, attachment_id)
    return found.response()


@router.get(
    "/attachments/{attachment_id}/thumbnail",
    response_class=Response,
    responses={**_FILE, **_DOWNLOAD},
)
async def download_thumbnail(
    attachment_id: uuid.UUID, actor: AnyUser, db: Session, scope: Scope
) -> Response:
    """The thumbnail of an image (WebP, at most 320 px on its long side), as the file itself:
    members only, audited, served once the file is. Codes: as the file's, and
    `thumbnail_not_found` (404: not an image)."""
    found = await attachments.download(db, scope, actor, attachment_id, thumbnail=True)
    return found.response()
