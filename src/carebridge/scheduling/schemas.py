"""Requests and answers of the scheduling API. Instants are ISO 8601 with an offset (answered in
UTC); schedules are wall-clock times in the doctor's IANA time zone."""

from __future__ import annotations

import uuid
from datetime import datetime
from itertools import pairwise

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from carebridge.accounts.schemas import check_time_zone
from carebridge.platform.inputs import Day, Instant, WallTime
from carebridge.scheduling.models import AppointmentStatus, AppointmentType, ExceptionKind


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WindowIn(_In):
    weekday: int = Field(ge=0, le=6, description="0 = Monday … 6 = Sunday")
    starts: WallTime = Field(description="Local wall-clock time, e.g. 09:00")
    ends: WallTime = Field(description="Local wall-clock time, after `starts` (same day)")

    @model_validator(mode="after")
    def _order(self) -> WindowIn:
        if self.starts >= self.ends:
            raise ValueError("a window ends after it starts")
        return self


class TypeIn(_In):
    type: AppointmentType
    duration_minutes: int = Field(ge=5, le=480)
    buffer_minutes: int = Field(default=0, ge=0, le=240)


class ScheduleIn(_In):
    time_zone: str = Field(description="IANA time zone of the windows, e.g. Europe/Berlin")
    booking_horizon_days: int = Field(default=60, ge=1, le=366)
    min_notice_minutes: int = Field(default=120, ge=0, le=43200)
    windows: list[WindowIn] = Field(max_length=100)
    types: list[TypeIn] = Field(min_length=1, max_length=3)

    _zone = field_validator("time_zone")(check_time_zone)

    @model_validator(mode="after")
    def _consistent(self) -> ScheduleIn:
        if len({t.type for t in self.types}) != len(self.types):
            raise ValueError("each appointment type appears once")
        by_day: dict[int, list[WindowIn]] = {}
        for window in self.windows:
            by_day.setdefault(window.weekday, []).append(window)
        for windows in by_day.values():
            windows.sort(key=lambda w: w.starts)
            for before, after in pairwise(windows):
                if after.starts < before.ends:
                    raise ValueError("windows of the same day must not overlap")
        return self


class ScheduleOut(BaseModel):
    doctor_id: uuid.UUID
    time_zone: str
    booking_horizon_days: int
    min_notice_minutes: int
    windows: list[WindowIn]
    types: list[TypeIn]
    updated_at: datetime | None


class ExceptionIn(_In):
    kind: ExceptionKind
    date: Day = Field(description="The doctor's local date")
    starts: WallTime | None = Field(default=None, description="Local; the whole day when left out")
    ends: WallTime | None = Field(default=None, description="Local; with `starts`")
    note: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _times(self) -> ExceptionIn:
        if (self.starts is None) != (self.ends is None):
            raise ValueError("give both `starts` and `ends`, or neither for the whole day")
        if self.starts is not None and self.ends is not None and self.starts >= self.ends:
            raise ValueError("an exception ends after it starts")
        if self.kind == ExceptionKind.extra_hours and self.starts is None:
            raise ValueError("extra hours need `starts` and `ends`")
        return self


class ExceptionOut(BaseModel):
    id: uuid.UUID
    kind: ExceptionKind
    starts_at: datetime
    ends_at: datetime
    note: str | None


class SlotOut(BaseModel):
    starts_at: datetime
    ends_at: datetime
    type: AppointmentType


class SlotsOut(BaseModel):
    doctor_id: uuid.UUID
    time_zone: str = Field(description="The doctor's IANA time zone")
    type: AppointmentType
    duration_minutes: int
    slots: list[SlotOut]


class BookIn(_In):
    doctor_id: uuid.UUID
    starts_at: Instant
    type: AppointmentType
    reason: str | None = Field(default=None, max_length=2000, description="Reason for the visit")


class RescheduleIn(_In):
    starts_at: Instant


class CancelIn(_In):
    reason: str | None = Field(default=None, max_length=500)


class AppointmentOut(BaseModel):
    id: uuid.UUID
    doctor_id: uuid.UUID
    doctor_name: str
    patient_id: uuid.UUID
    patient_name: str
    type: AppointmentType
    status: AppointmentStatus
    starts_at: datetime
    ends_at: datetime
    time_zone: str = Field(description="The doctor's IANA time zone")
    reason: str | None = Field(description="Shown to the patient and the doctor only")
    fee: int = Field(description="Minor units of `currency`")
    currency: str | None
    hold_expires_at: datetime | None
    cancel_reason: str | None
    cancelled_at: datetime | None
    created_at: datetime


class AppointmentPage(BaseModel):
    items: list[AppointmentOut]
    next_cursor: str | None
