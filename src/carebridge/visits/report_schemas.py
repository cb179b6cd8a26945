"""Requests and answers of a home visit's report: what the nurse writes, the doctor's review, the
photos."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from carebridge.platform.inputs import Instant, not_blank
from carebridge.records.vitals import Kind
from carebridge.visits.models import ReportStatus
from carebridge.visits.schemas import In, PersonOut

TEXT_LENGTH = 4000
ITEM_LENGTH = 500
MOST_ITEMS = 30

Text = Annotated[str, not_blank(TEXT_LENGTH)]
Item = Annotated[str, not_blank(ITEM_LENGTH)]
Short = Annotated[str, not_blank(100)]
Reading = Annotated[float, Field(allow_inf_nan=False)]


class VitalIn(In):
    """A reading the nurse took, in any unit its kind accepts (``GET /api/v1/records/kinds``)."""

    kind: Kind
    value: Reading
    value2: Reading | None = Field(default=None, description="Blood pressure: the diastolic.")
    unit: str | None = Field(
        default=None, max_length=16, description="UCUM code; the kind's own unit when omitted."
    )
    measured_at: Instant | None = Field(
        default=None, description="When it was measured; the time of saving when omitted."
    )


class MedicationGivenIn(In):
    name: Item
    dose: Short | None = None
    route: Short | None = None
    at: Instant | None = None


class ReportIn(In):
    """The whole report: a PUT replaces what was saved before."""

    vitals: list[VitalIn] = Field(default_factory=list, max_length=MOST_ITEMS)
    interventions: list[Item] = Field(default_factory=list, max_length=MOST_ITEMS)
    medications_given: list[MedicationGivenIn] = Field(default_factory=list, max_length=MOST_ITEMS)
    observations: Text | None = None
    recommendations: Text | None = Field(
        default=None, description="For the patient: printed on the signed report."
    )


class VitalOut(BaseModel):
    kind: Kind
    value: float
    value2: float | None
    unit: str | None
    measured_at: datetime


class MedicationGivenOut(BaseModel):
    name: str
    dose: str | None
    route: str | None
    at: datetime | None


class PhotoOut(BaseModel):
    id: uuid.UUID
    filename: str
    content_type: str
    size: int
    caption: str | None
    created_at: datetime
    url: str = Field(description="Where to download the file.")


class ReportOut(BaseModel):
    visit_id: uuid.UUID
    status: ReportStatus
    version: int = Field(description="0 before the first save; each save adds one.")
    nurse: PersonOut | None
    vitals: list[VitalOut]
    interventions: list[str]
    medications_given: list[MedicationGivenOut]
    observations: str | None
    recommendations: str | None
    photos: list[PhotoOut]
    changes_requested: str | None = Field(
        description="What the reviewing doctor asked to change (the nurse and doctors only)."
    )
    rating: int | None = Field(description="The doctor's rating, 1 to 5 (not the patient's).")
    feedback: str | None = Field(
        description="The doctor's feedback to the nurse (not the patient's)."
    )
    reviewer: PersonOut | None
    submitted_at: datetime | None
    reviewed_at: datetime | None
    signed_at: datetime | None
    updated_at: datetime | None
    actions: list[str] = Field(
        description="What you may do now: `edit`, `submit`, `review`, `download`."
    )


class ReviewIn(In):
    decision: Literal["sign_off", "request_changes"]
    rating: int | None = Field(default=None, ge=1, le=5, description="Required to sign off.")
    feedback: Text | None = Field(
        default=None, description="Sign-off: for the nurse only (sealed, not printed)."
    )
    changes: Text | None = Field(
        default=None, description="Request changes: what to change (required; sealed)."
    )
