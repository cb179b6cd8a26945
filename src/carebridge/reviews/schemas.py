"""Requests and answers of the reviews API. Inputs forbid unknown fields: the author, the doctor,
the dates and the hidden state are never read from a client."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from carebridge.platform.inputs import not_blank

# Plain text: surrounding blanks dropped, escaped wherever it is shown.
Comment = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
Rating = Annotated[int, Field(ge=1, le=5, description="Stars, 1 to 5.")]


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rating: Rating
    comment: Comment | None = Field(default=None, description="Plain text, at most 2000 chars.")


class ReviewEdit(BaseModel):
    """Only the fields sent change; `comment: null` (or blank) removes the comment."""

    model_config = ConfigDict(extra="forbid")

    rating: Rating | None = None
    comment: Comment | None = None


class ReplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reply: Annotated[str, not_blank(2000)]


class HideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, not_blank(500)]


class ReviewOut(BaseModel):
    """A review as its patient, its doctor or an admin sees it."""

    id: uuid.UUID
    appointment_id: uuid.UUID
    doctor_id: uuid.UUID
    patient_id: uuid.UUID
    rating: int
    comment: str | None
    created_at: datetime
    edited_at: datetime | None
    editable_until: datetime = Field(description="The patient may edit it until then.")
    reply: str | None
    replied_at: datetime | None
    hidden: bool
    hidden_at: datetime | None
    hidden_reason: str | None


class PublicReviewOut(BaseModel):
    """A visible review on a doctor's public page: the patient by first name only."""

    id: uuid.UUID
    rating: int
    comment: str | None
    patient_first_name: str
    created_at: datetime
    edited_at: datetime | None
    reply: str | None
    replied_at: datetime | None


class PublicReviewPage(BaseModel):
    items: list[PublicReviewOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: end.")
