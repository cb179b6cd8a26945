"""Answers of the record's documents (an upload is a multipart form: ``document_routes``)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class DocumentCategory(StrEnum):
    lab_result = "lab_result"
    letter = "letter"
    imaging = "imaging"
    report = "report"
    other = "other"


class DocumentOut(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    category: DocumentCategory
    title: str
    filename: str = Field(description="A safe name to save it under.")
    content_type: str = Field(description="Decided by the content, not by the upload's name.")
    size: int = Field(description="In bytes, as stored (a photo is re-encoded without metadata).")
    dated_on: date | None
    recorded_by_id: uuid.UUID | None
    created_at: datetime
