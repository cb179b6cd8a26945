"""Response models of data exports."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from carebridge.compliance.export_models import DataExport, ExportStatus


class ExportOut(BaseModel):
    """A data export and where it stands."""

    id: uuid.UUID
    status: ExportStatus = Field(
        description="`pending` (asked for), `building`, `ready` (downloadable until "
        "`expires_at`), `failed`, `expired` (its file deleted: ask for a new one)."
    )
    on_behalf: bool = Field(description="Asked for by an administrator for the patient.")
    requested_at: datetime
    ready_at: datetime | None
    expires_at: datetime | None
    size: int | None = Field(description="The ZIP's size in bytes, once ready.")

    @classmethod
    def of(cls, row: DataExport, status: ExportStatus) -> ExportOut:
        return cls(
            id=row.id,
            status=status,
            on_behalf=row.on_behalf,
            requested_at=row.created_at,
            ready_at=row.ready_at,
            expires_at=row.expires_at,
            size=row.size,
        )
