"""Requests and answers of the health record API: access (grants, emergency opening, access log)
and observations. The other sections keep theirs next to their service."""

from __future__ import annotations

import math
import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from carebridge.platform.inputs import NOT_BLANK, Instant, not_blank
from carebridge.records.models import Flag, Section, Source
from carebridge.records.vitals import Kind

NOTE_LENGTH = 2000
Note = Annotated[str, not_blank(NOTE_LENGTH)]


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("give a finite number")
    return value


Number = Annotated[float, AfterValidator(_finite)]


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- access ---------------------------------------------------------------------------------------


class GrantIn(In):
    grantee_id: uuid.UUID = Field(description="The doctor or nurse to share with.")
    sections: list[Literal["all"] | Section] = Field(
        min_length=1,
        max_length=len(Section) + 1,
        description="`all`, or some of the sections.",
    )
    expires_at: Instant = Field(description="When the sharing ends by itself.")


class GrantOut(BaseModel):
    id: uuid.UUID
    grantee_id: uuid.UUID
    grantee_name: str
    sections: list[Section]
    expires_at: datetime
    revoked_at: datetime | None
    created_at: datetime
    active: bool = Field(description="Neither revoked nor expired.")


class EmergencyIn(In):
    reason: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=20, max_length=1000, pattern=NOT_BLANK),
    ] = Field(
        description="Why the record must be read now (at least 20 characters); kept sealed, "
        "read by the clinic's administrators.",
    )


class EmergencyOut(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    expires_at: datetime


class EmergencyReview(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    patient_name: str
    doctor_id: uuid.UUID
    doctor_name: str
    reason: str
    opened_at: datetime
    expires_at: datetime


class EmergencyReviewPage(BaseModel):
    items: list[EmergencyReview]
    next_cursor: str | None


class AccessLogEntry(BaseModel):
    at: datetime
    actor_id: uuid.UUID | None
    actor_name: str
    actor_role: str | None
    action: str = Field(description="`read`, `write`, `emergency_access`, `grant`, `revoke`.")
    section: str | None
    basis: str | None = Field(description="`care`, `grant` or `emergency` for a clinician.")
    outcome: str = Field(default="success", description="`success`, or `denied`: refused.")


class AccessLogPage(BaseModel):
    items: list[AccessLogEntry]
    next_cursor: str | None


# -- observations ---------------------------------------------------------------------------------


class ObservationIn(In):
    kind: Kind = Field(description="What was measured (`bmi` is computed, not entered: 422).")
    value: Number = Field(description="The reading; the systolic one of a blood pressure.")
    value2: Number | None = Field(
        default=None, description="A blood pressure's diastolic reading (required for it)."
    )
    unit: Annotated[str, Field(max_length=16)] | None = Field(
        default=None,
        description="A UCUM code the kind accepts (see `GET /records/observation-kinds`); "
        "its canonical unit when left out.",
    )
    measured_at: Instant | None = Field(default=None, description="Now when left out.")
    note: Note | None = Field(default=None, description="Encrypted at rest.")


class ObservationPatch(In):
    """Fields given replace the stored ones (`note: null` clears it; `value`, `unit` and
    `measured_at` cannot be cleared: 422 `required_field`); the value is checked and flagged
    again."""

    value: Number | None = None
    value2: Number | None = None
    unit: Annotated[str, Field(max_length=16)] | None = None
    measured_at: Instant | None = None
    note: Note | None = None


class ObservationOut(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    kind: Kind
    label: str
    loinc: str
    value: float = Field(description="In the canonical unit.")
    value2: float | None
    unit: str = Field(description="The canonical UCUM unit.")
    entered_unit: str
    flag: Flag
    measured_at: datetime
    time_zone: str
    source: Source
    recorded_by_id: uuid.UUID | None
    note: str | None
    created_at: datetime


class ObservationPage(BaseModel):
    items: list[ObservationOut]
    next_cursor: str | None


class UnitOut(BaseModel):
    code: str
    label: str


class RangesOut(BaseModel):
    normal_low: float | None
    normal_high: float | None
    critical_low: float | None
    critical_high: float | None
    source: str


class KindOut(BaseModel):
    kind: Kind
    label: str
    loinc: str
    unit: UnitOut
    units: list[UnitOut]
    possible: tuple[float, float]
    ranges: RangesOut
    second_possible: tuple[float, float] | None
    second_ranges: RangesOut | None
    derived: bool
