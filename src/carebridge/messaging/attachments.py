"""Attachments: files sent with a message, checked, cleaned, sealed, scanned and downloaded.

Sending: every file goes through ``platform.files.inspect`` (in a thread: it is CPU-bound)
before anything is written; one refusal refuses the whole message (413 too large, 422 with the
module's codes, naming the file) and nothing is stored, neither a row nor a file. Accepted
files are kept as ``inspect`` returns them (images re-encoded without metadata, with a
thumbnail), sealed with the keyring bound to ``attachment:<id>`` and their storage key, and
their rows written in the message's transaction (``service.send``'s ``attach``).

Serving: members only (404 ``attachment_not_found`` for anyone else, administrators included,
exactly as for an id that does not exist), only when the scan allows it (``SERVED``): 409
``attachment_scan_pending`` while clamd has not answered, 409 ``attachment_infected`` when it
found malware (the stored file is then deleted). Every download is audited.

Scanning: with ``CAREBRIDGE_CLAMD_URL`` set, a file is ``pending`` until a job of the
``messaging`` queue (``messaging/tasks.py``) has clamd's answer; a scan that fails (clamd down,
an error) leaves it pending and is retried, and a sweep re-queues the ones whose job was lost.
Without clamd a file is ``not_scanned`` and served at once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import structlog
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile
from starlette.responses import Response

from carebridge.accounts.actors import Actor
from carebridge.config import Settings
from carebridge.messaging import policy, service
from carebridge.messaging.attachment_models import Attachment, ScanState
from carebridge.messaging.attachment_schemas import AttachmentOut
from carebridge.messaging.attachment_views import SERVED, aad, attachment_out, audit
from carebridge.messaging.models import Conversation
from carebridge.messaging.schemas import MAX_TEXT, MessageIn, MessageOut
from carebridge.messaging.tasks import defer_scans_after_commit
from carebridge.platform import files, images
from carebridge.platform.context import CallScope
from carebridge.platform.crypto import KeyClass
from carebridge.platform.downloads import file_response
from carebridge.platform.errors import CareBridgeError, Conflict, Invalid, NotFound
from carebridge.platform.storage import sealed_storage_for

log = structlog.get_logger(__name__)

MAX_FILES = files.MAX_FILES_PER_REQUEST
# What a file picker offers (its ``accept``): every allowed type, by media type and by name.
ACCEPT = ",".join(
    [t.media_type for t in files.ALLOWED] + [e for t in files.ALLOWED for e in t.extensions]
)


@dataclass(frozen=True)
class Upload:
    """A file as the client sent it."""

    name: str
    data: bytes
    declared_type: str | None


@dataclass(frozen=True)
class Download:
    content: bytes
    media_type: str
    filename: str

    def response(self) -> Response:
        """The file to save (``Content-Disposition: attachment``, with its safe name)."""
        return file_response(self.content, self.media_type, self.filename)


# -- sending ------------------------------------------------------------------------------------


async def read_uploads(sent: Sequence[UploadFile], max_bytes: int) -> list[Upload]:
    """The files as a multipart form sent them; each read up to one byte past the limit
    (enough to refuse it)."""
    return [
        Upload(
            name=upload.filename or "",
            data=await upload.read(max_bytes + 1),
            declared_type=upload.content_type,
        )
        for upload in sent
    ]


def message_with_files(client_id: uuid.UUID, text: str) -> MessageIn:
    """The message files are sent with: its words may be left out (the files say it all)."""
    if not text.strip():
        return MessageIn.model_construct(client_id=client_id, text="")
    try:
        return MessageIn(client_id=client_id, text=text)
    except ValidationError as exc:
        raise Invalid(f"The text must be at most {MAX_TEXT} characters.", code="bad_text") from exc


async def check_uploads(settings: Settings, uploads: Sequence[Upload]) -> list[files.Inspected]:
    """Every file accepted, or the first refusal, naming the file (``file``: its position)."""
    if not uploads:
        raise Invalid("Choose a file to send.", code="attachment_missing")
    if len(uploads) > MAX_FILES:
        raise Invalid(
            f"At most {MAX_FILES} files can be sent with one message.",
            code="too_many_attachments",
        )
    kept = []
    for position, upload in enumerate(uploads):
        try:
            kept.append(
                await asyncio.to_thread(
                    files.inspect,
                    upload.name,
                    upload.data,
                    upload.declared_type,
                    max_bytes=settings.attachment_max_bytes,
                )
            )
        except CareBridgeError as exc:
            raise type(exc)(
                f"{_shown(upload.name)}: {exc.detail}",
                code=exc.error_code,
                file=position,
                **exc.extra,
            ) from exc
    return kept


def _shown(name: str) -> str:
    """The name a refusal names the file by: made safe, with the extension it was sent with."""
    safe = files.safe_filename(name, files.TEXT).rsplit(".", 1)[0]
    _, dot, extension = name.rpartition(".")
    if dot and extension.isascii() and extension.isalnum() and len(extension) <= 8:
        return f"{safe}.{extension.lower()}"
    return safe


async def send_with_files(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    conversation_id: uuid.UUID,
    body: MessageIn,
    uploads: Sequence[Upload],
) -> service.Sent:
    """A member sends a message with 1 to 5 files; a retry with the same ``client_id``
    answers the first message and stores nothing."""
    # 404 before any file is inspected
    conversation = await service.get_conversation(db, actor, conversation_id)
    owner = (conversation.patient_id, KeyClass.personal)  # the files are the patient's
    kept = await check_uploads(scope.settings, uploads)
    state = ScanState.pending if scope.settings.clamd_url else ScanState.not_scanned

    async def attach(message: MessageOut) -> list[AttachmentOut]:
        rows = [_row(message, actor, position, item, state) for position, item in enumerate(kept)]
        db.add_all(rows)
        await db.flush()
        sealed = sealed_storage_for(scope.settings, scope.keyring)
        for row, item in zip(rows, kept, strict=True):
            await sealed.put(
                row.storage_key, item.data, associated_data=aad(row.id), owner=owner, db=db
            )
            if row.thumbnail_key is not None and item.thumbnail is not None:
                await sealed.put(
                    row.thumbnail_key,
                    item.thumbnail,
                    associated_data=aad(row.id),
                    owner=owner,
                    db=db,
                )
            await audit(db, scope, actor, "attachment.uploaded", row, size=row.size)
        if state == ScanState.pending:
            defer_scans_after_commit(db, [row.id for row in rows])
        return [attachment_out(row) for row in rows]

    return await service.send(db, scope, actor, conversation_id, body, attach=attach)


def _row(
    message: MessageOut, actor: Actor, position: int, item: files.Inspected, state: ScanState
) -> Attachment:
    attachment_id = uuid.uuid4()
    key = f"attachments/{message.conversation_id}/{attachment_id}"
    return Attachment(
        id=attachment_id,
        message_id=message.id,
        conversation_id=message.conversation_id,
        uploader_id=actor.id,
        position=position,
        media_type=item.file_type.media_type,
        filename=item.filename,
        size=len(item.data),
        width=item.width,
        height=item.height,
        storage_key=key,
        thumbnail_key=None if item.thumbnail is None else f"{key}.thumbnail",
        scan_state=str(state),
    )


# -- downloading --------------------------------------------------------------------------------


def _not_found() -> NotFound:
    return NotFound("No such attachment.", code="attachment_not_found")


async def get_attachment(db: AsyncSession, actor: Actor, attachment_id: uuid.UUID) -> Attachment:
    """An attachment of a conversation ``actor`` is a member of; 404 otherwise."""
    visible = policy.visible_conversations(actor).with_only_columns(Conversation.id)
    found: Attachment | None = await db.scalar(
        select(Attachment).where(
            Attachment.id == attachment_id, Attachment.conversation_id.in_(visible)
        )
    )
    if found is None:
        raise _not_found()
    return found


def check_served(row: Attachment) -> None:
    """A file is served once its scan allows it (``SERVED``), never while pending or
    infected."""
    if row.scan_state == ScanState.pending:
        raise Conflict(
            "This file is being checked for viruses; try again in a moment.",
            code="attachment_scan_pending",
            headers={"Retry-After": "10"},
        )
    if row.scan_state not in SERVED:
        raise Conflict(
            "This file was blocked: the virus check found something harmful in it. Ask the "
            "sender to send it again from a trusted copy.",
            code="attachment_infected",
        )


async def download(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    attachment_id: uuid.UUID,
    *,
    thumbnail: bool = False,
) -> Download:
    """A member downloads an attachment (or an image's thumbnail). Audited."""
    row = await get_attachment(db, actor, attachment_id)
    check_served(row)
    key = row.thumbnail_key if thumbnail else row.storage_key
    if key is None:
        raise NotFound("This file has no thumbnail.", code="thumbnail_not_found")
    content = await sealed_storage_for(scope.settings, scope.keyring).get(
        key, associated_data=aad(row.id), db=db
    )
    action = "attachment.thumbnail_downloaded" if thumbnail else "attachment.downloaded"
    await audit(db, scope, actor, action, row)
    if thumbnail:
        stem = row.filename.rsplit(".", 1)[0]
        return Download(content, images.THUMBNAIL_MEDIA_TYPE, f"{stem}-thumbnail.webp")
    return Download(content, row.media_type, row.filename)
