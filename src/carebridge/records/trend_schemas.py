"""Answers of the trends API: a series bucketed in the patient's time zone, the latest values."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from carebridge.records.models import Flag
from carebridge.records.schemas import ObservationOut, RangesOut
from carebridge.records.vitals import Kind


class Bucket(StrEnum):
    day = "day"
    week = "week"  # ISO weeks, from Monday
    month = "month"


class Point(BaseModel):
    start: date = Field(description="The bucket's first local day in the patient's time zone.")
    starts_at: datetime = Field(description="The instant that day began there.")
    count: int
    min: float
    max: float
    mean: float
    min2: float | None = Field(description="A blood pressure's diastolic minimum.")
    max2: float | None
    mean2: float | None


class Series(BaseModel):
    kind: Kind
    label: str
    unit: str
    bucket: Bucket
    time_zone: str
    since: datetime
    until: datetime
    ranges: RangesOut
    second_ranges: RangesOut | None
    points: list[Point]


class Latest(BaseModel):
    items: list[ObservationOut] = Field(description="The latest reading of each kind entered.")
    bmi: float | None = Field(description="From the latest weight and height, when both exist.")
    bmi_flag: Flag | None


class ComponentStatus(StrEnum):
    scored = "scored"
    not_enough_data = "not_enough_data"
    not_shared = "not_shared"  # a grant that does not cover the section it reads


class Component(BaseModel):
    key: str = Field(
        description="`blood_pressure`, `bmi`, `blood_glucose`, `activity`, `medication_adherence`."
    )
    label: str
    status: ComponentStatus
    measured: str = Field(description="What the value is, a sentence.")
    readings: int = Field(description="How many readings (or days) it rests on.")
    value: float | None = Field(default=None, description="A share (0-1) for glucose, adherence.")
    value2: float | None = Field(default=None, description="A blood pressure's diastolic mean.")
    unit: str | None = None
    points: int | None = Field(default=None, description="0-100; null without enough data.")
    rule: str | None = Field(default=None, description="The rule that scored it, a sentence.")


class HealthSummary(BaseModel):
    score: int | None = Field(
        description="0-100: the mean of the points of the components that have data; null when "
        "none has."
    )
    scored_components: int
    how: str = Field(description="How the score is made, a sentence.")
    since: datetime
    until: datetime
    components: list[Component]
