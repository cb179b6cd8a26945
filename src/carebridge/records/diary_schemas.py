"""Requests and answers of the symptom diary, allergies, conditions and immunizations. A patch
replaces the fields it gives (``note: null`` clears the note); the whole entry is checked again."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, Field

from carebridge.platform.inputs import Day, Instant, Name, not_blank
from carebridge.records.schemas import In, Note

Text200 = Annotated[str, not_blank(200)]
Severity = Annotated[int, Field(ge=0, le=10, description="0 (none) to 10 (the worst imaginable).")]
Minutes = Annotated[int, Field(ge=0, le=525_600, description="How long it lasted, in minutes.")]
DoseNumber = Annotated[int, Field(ge=1, le=20)]


class AllergySeverity(StrEnum):
    mild = "mild"
    moderate = "moderate"
    severe = "severe"
    unknown = "unknown"


class ConditionStatus(StrEnum):
    """FHIR's clinical status of a Condition."""

    active = "active"
    recurrence = "recurrence"
    relapse = "relapse"
    inactive = "inactive"
    remission = "remission"
    resolved = "resolved"


class EntryOut(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    recorded_by_id: uuid.UUID | None
    note: str | None = Field(description="Encrypted at rest.")
    created_at: datetime
    updated_at: datetime


# -- symptoms -------------------------------------------------------------------------------------


class SymptomIn(In):
    name: Name = Field(
        description="A symptom of the catalog (its label, code or a synonym, any case or "
        "accents: stored as the catalog's code and label) or free text."
    )
    severity: Severity
    onset_at: Instant | None = Field(default=None, description="When it began; now if left out.")
    duration_minutes: Minutes | None = None
    note: Note | None = None


class SymptomPatch(In):
    name: Name | None = None
    severity: Severity | None = None
    onset_at: Instant | None = None
    duration_minutes: Minutes | None = None
    note: Note | None = None


class SymptomOut(EntryOut):
    code: str | None = Field(description="The catalog's code; null for free text.")
    name: str
    severity: int
    onset_at: datetime
    duration_minutes: int | None


class CatalogSymptomOut(BaseModel):
    code: str
    label: str
    synonyms: list[str]


# -- allergies ------------------------------------------------------------------------------------


class AllergyIn(In):
    substance: Text200 = Field(description="Unique in the record (any case).")
    reaction: Text200 | None = None
    severity: AllergySeverity = AllergySeverity.unknown
    noted_on: Day | None = Field(default=None, description="Not in the future.")
    note: Note | None = None


class AllergyPatch(In):
    substance: Text200 | None = None
    reaction: Text200 | None = None
    severity: AllergySeverity | None = None
    noted_on: Day | None = None
    note: Note | None = None


class AllergyOut(EntryOut):
    substance: str
    reaction: str | None
    severity: AllergySeverity
    noted_on: date | None


# -- conditions -----------------------------------------------------------------------------------


class ConditionIn(In):
    name: Name
    code: Annotated[str, not_blank(32)] | None = Field(
        default=None, description="A code of your choice of system (ICD-10, SNOMED CT)."
    )
    status: ConditionStatus = ConditionStatus.active
    onset_on: Day | None = Field(default=None, description="Not in the future.")
    resolved_on: Day | None = Field(
        default=None,
        description="Not before `onset_on`, not in the future; only with a status that is not "
        "`active`, `recurrence` or `relapse`.",
    )
    note: Note | None = None


class ConditionPatch(In):
    name: Name | None = None
    code: Annotated[str, not_blank(32)] | None = None
    status: ConditionStatus | None = None
    onset_on: Day | None = None
    resolved_on: Day | None = None
    note: Note | None = None


class ConditionOut(EntryOut):
    name: str
    code: str | None
    status: ConditionStatus
    onset_on: date | None
    resolved_on: date | None


# -- immunizations --------------------------------------------------------------------------------


class ImmunizationIn(In):
    vaccine: Text200
    dose_number: DoseNumber | None = None
    given_on: Day = Field(description="Not in the future.")
    lot: Annotated[str, not_blank(64)] | None = None
    given_by: Text200 | None = None
    note: Note | None = None


class ImmunizationPatch(In):
    vaccine: Text200 | None = None
    dose_number: DoseNumber | None = None
    given_on: Day | None = None
    lot: Annotated[str, not_blank(64)] | None = None
    given_by: Text200 | None = None
    note: Note | None = None


class ImmunizationOut(EntryOut):
    vaccine: str
    dose_number: int | None
    given_on: date
    lot: str | None
    given_by: str | None
