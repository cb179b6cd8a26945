"""The files of messages, for the conversation page: a download and an image's thumbnail under
the browser's session, through the same use case as the API's (members only: 404 for anyone
else, administrators included; served once the virus check allows it; every download audited).
Answers carry ``Content-Disposition: attachment`` with the file's safe name and ``nosniff``, so
a file is saved, never opened as a page of this site; a thumbnail is shown by an ``<img>``."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from starlette.responses import Response

from carebridge.messaging import attachments
from carebridge.platform.deps import Scope, Session
from carebridge.web.callers import WebUser

router = APIRouter(include_in_schema=False)


@router.get("/attachments/{attachment_id}")
async def download(attachment_id: uuid.UUID, actor: WebUser, db: Session, scope: Scope) -> Response:
    """Save a file of a message (a link under the message)."""
    found = await attachments.download(db, scope, actor, attachment_id)
    return found.response()


@router.get("/attachments/{attachment_id}/thumbnail")
async def thumbnail(
    attachment_id: uuid.UUID, actor: WebUser, db: Session, scope: Scope
) -> Response:
    """An image's thumbnail, shown in the message (WebP, at most 320 px)."""
    found = await attachments.download(db, scope, actor, attachment_id, thumbnail=True)
    return found.response()
