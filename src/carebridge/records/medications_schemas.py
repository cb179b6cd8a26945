"""Requests and answers of the medication list, its doses and its adherence."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, field_serializer

from carebridge.platform.inputs import Day, WallTime, not_blank
from carebridge.records.schemas import In, Note

MAX_TIMES = 12  # record_medications' check constraint


def _whole_minutes(times: list[time]) -> list[time]:
    if any(t.second or t.microsecond for t in times):
        raise ValueError("give times of day in whole minutes, e.g. 08:00")
    return sorted(set(times))


def _weekdays(days: list[int]) -> list[int]:
    return sorted(set(days))


Times = Annotated[list[WallTime], Field(max_length=MAX_TIMES), AfterValidator(_whole_minutes)]
Weekdays = Annotated[
    list[Annotated[int, Field(ge=1, le=7)]], Field(max_length=7), AfterValidator(_weekdays)
]
DoseText = Annotated[str, not_blank(100)]
RouteText = Annotated[str, not_blank(50)]


class MedicationIn(In):
    name: Annotated[str, not_blank(200)] = Field(description="e.g. 'Metformin 500 mg'.")
    dose: DoseText | None = Field(default=None, description="e.g. '1 tablet'.")
    route: RouteText | None = Field(default=None, description="e.g. 'oral'.")
    times: Times = Field(
        default_factory=list,
        description="Local times of day (in your time zone) it is taken at, e.g. ['08:00', "
        "'20:00']; at most 12. Empty: as needed, no reminders.",
    )
    weekdays: Weekdays = Field(
        default_factory=list, description="ISO weekdays it is taken on (1 = Monday); empty: daily."
    )
    starts_on: Day | None = Field(default=None, description="Today when left out.")
    ends_on: Day | None = Field(default=None, description="The last day; none: ongoing.")
    reminders: bool = Field(default=True, description="Remind me at each time (in-app, push).")
    instructions: Note | None = Field(default=None, description="Encrypted at rest.")


class MedicationPatch(In):
    """Fields given replace the stored ones (`ends_on: null` makes it ongoing, `instructions:
    null` clears them)."""

    name: Annotated[str, not_blank(200)] | None = None
    dose: DoseText | None = None
    route: RouteText | None = None
    times: Times | None = None
    weekdays: Weekdays | None = None
    starts_on: Day | None = None
    ends_on: Day | None = None
    reminders: bool | None = None
    instructions: Note | None = None


class FromPrescriptionIn(In):
    prescription_id: uuid.UUID = Field(description="One of your issued prescriptions.")


class Adherence(BaseModel):
    rate: float | None = Field(description="taken / scheduled (0 to 1); null: nothing scheduled.")
    taken: int
    skipped: int
    missed: int
    scheduled: int = Field(description="taken + skipped + missed.")
    since: datetime


class MedicationOut(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    name: str
    dose: str | None
    route: str | None
    times: list[time]
    weekdays: list[int]
    starts_on: date
    ends_on: date | None
    reminders: bool
    instructions: str | None
    prescribed_by_id: uuid.UUID | None
    prescribed_by_name: str | None
    prescription_id: uuid.UUID | None
    prescription_line_id: uuid.UUID | None
    recorded_by_id: uuid.UUID | None
    stopped_at: datetime | None
    active: bool = Field(description="Not stopped, not past its last day.")
    schedule_note: str | None = Field(
        description="What to set: an added prescription line whose frequency is not a time of "
        "day gets no times (and no reminders) until you set them."
    )
    adherence: Adherence
    created_at: datetime
    updated_at: datetime

    @field_serializer("times")
    def _hh_mm(self, times: list[time]) -> list[str]:
        return [f"{t:%H:%M}" for t in times]


class MedicationPage(BaseModel):
    items: list[MedicationOut]
    next_cursor: str | None


class FromPrescriptionOut(BaseModel):
    added: int = Field(description="How many lines were new to your list (0 the second time).")
    items: list[MedicationOut] = Field(description="The prescription's medications, in order.")


class DoseMark(StrEnum):
    taken = "taken"
    skipped = "skipped"


class DoseIn(In):
    local_date: Day = Field(description="The day of the dose, in your time zone.")
    local_time: WallTime = Field(description="One of the medication's times, e.g. 08:00.")
    status: DoseMark


SlotStatus = Literal["upcoming", "due", "taken", "skipped", "missed"]


class DoseOut(BaseModel):
    medication_id: uuid.UUID
    name: str
    dose: str | None
    local_date: date
    local_time: time
    time_zone: str
    due_at: datetime
    status: SlotStatus = Field(
        description="`upcoming` (its time is ahead), `due` (its time came less than 2 hours "
        "ago), `missed` (unmarked since), `taken`, `skipped`."
    )
    reminded_at: datetime | None
    marked_at: datetime | None

    @field_serializer("local_time")
    def _hh_mm(self, value: time) -> str:
        return f"{value:%H:%M}"


class DayOut(BaseModel):
    date: date
    time_zone: str
    doses: list[DoseOut]
