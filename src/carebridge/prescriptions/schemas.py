"""Requests and answers of the prescriptions API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from carebridge.platform.inputs import Name, not_blank
from carebridge.prescriptions.models import PdfStatus, PrescriptionStatus

MAX_LINES = 50
MAX_TEXT = 4000


Short = Annotated[str, not_blank(100)]
RouteText = Annotated[str, not_blank(50)]
Quantity = Annotated[str, not_blank(50)]
Instructions = Annotated[str, not_blank(1000)]
LongText = Annotated[str, not_blank(MAX_TEXT)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LineIn(_In):
    """One medication, as the pharmacist reads it."""

    name: Name = Field(description="Medication, e.g. 'Amoxicillin'")
    strength: Short | None = Field(default=None, description="e.g. '500 mg'")
    dose: Short | None = Field(default=None, description="e.g. '1 capsule'")
    route: RouteText | None = Field(default=None, description="e.g. 'oral'")
    frequency: Short | None = Field(default=None, description="e.g. 'three times a day'")
    duration: Short | None = Field(default=None, description="e.g. '7 days'")
    quantity: Quantity | None = Field(default=None, description="e.g. '21 capsules'")
    refills: int = Field(default=0, ge=0, le=12)
    instructions: Instructions | None = Field(default=None, description="e.g. 'with food'")


class PrescriptionIn(_In):
    diagnosis: LongText | None = Field(default=None, description="Encrypted at rest.")
    notes: LongText | None = Field(default=None, description="Encrypted at rest.")
    lines: list[LineIn] = Field(default_factory=list, max_length=MAX_LINES)


class PrescriptionPatch(_In):
    """Fields given replace the draft's; `lines` replaces all lines; `null` clears a text."""

    diagnosis: LongText | None = None
    notes: LongText | None = None
    lines: list[LineIn] | None = Field(default=None, max_length=MAX_LINES)


class CancelIn(_In):
    reason: Annotated[str, not_blank(500)] = Field(description="Told to the patient.")


class LineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    position: int
    name: str
    strength: str | None
    dose: str | None
    route: str | None
    frequency: str | None
    duration: str | None
    quantity: str | None
    refills: int
    instructions: str | None


class PrescriptionSummary(BaseModel):
    """A prescription in a list: no diagnosis, notes or lines (read one to see them)."""

    id: uuid.UUID
    appointment_id: uuid.UUID
    doctor_id: uuid.UUID
    doctor_name: str
    patient_id: uuid.UUID
    patient_name: str
    status: PrescriptionStatus
    issued_at: datetime | None
    cancelled_at: datetime | None
    pdf_status: PdfStatus | None
    created_at: datetime


class PrescriptionOut(PrescriptionSummary):
    diagnosis: str | None
    notes: str | None
    lines: list[LineOut]
    verification_code: str | None
    cancel_reason: str | None
    updated_at: datetime


class PrescriptionPage(BaseModel):
    items: list[PrescriptionSummary]
    next_cursor: str | None
