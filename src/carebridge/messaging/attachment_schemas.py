"""What the API answers about a message's attachments (never their content)."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field


class AttachmentOut(BaseModel):
    id: uuid.UUID
    filename: str = Field(description="A safe name to save it under.")
    media_type: str = Field(description="The type of the file as it is kept and served.")
    size: int = Field(description="Bytes, as served.")
    width: int | None = Field(description="Images: pixels.")
    height: int | None
    has_thumbnail: bool = Field(description="Images: `GET /api/v1/attachments/{id}/thumbnail`.")
    scan_state: str = Field(
        description="`pending` (being checked for malware: not downloadable yet), `clean`, "
        "`not_scanned` (no malware scanner configured: downloadable) or `infected` (never "
        "downloadable)."
    )
    downloadable: bool = Field(description="Whether `GET /api/v1/attachments/{id}` serves it.")
