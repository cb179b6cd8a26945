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
