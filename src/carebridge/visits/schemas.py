"""Requests and answers of the home visit API (the report's are in ``report_schemas.py``)."""

from __future__ import annotations

import math
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from carebridge.platform.inputs import Instant, not_blank
from carebridge.visits import catalog
from carebridge.visits.models import VisitStatus

# The catalog's codes, so the schema lists them and anything else is a 422 at the edge.
ServiceCode = StrEnum("ServiceCode", {code: code for code in catalog.CODES})  # type: ignore[misc]

ADDRESS_LENGTH = 500
NOTE_LENGTH = 2000

Address = Annotated[str, not_blank(ADDRESS_LENGTH)]
Note = Annotated[str, not_blank(NOTE_LENGTH)]


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("give a finite number")
    return value


Latitude = Annotated[float, Field(ge=-90, le=90), AfterValidator(_finite)]
Longitude = Annotated[float, Field(ge=-180, le=180), AfterValidator(_finite)]
Accuracy = Annotated[float, Field(ge=0, le=100_000), AfterValidator(_finite)]


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Point(In):
    lat: Latitude
    lng: Longitude


class ServiceOut(BaseModel):
    code: str
    label: str
    minutes: int = Field(description="How long the visit usually takes at the home.")
    description: str


class VisitIn(In):
    """A patient asks for a visit, or a doctor orders one for a patient they care for."""

    service: ServiceCode = Field(description="A code of `GET /api/v1/visit-services`.")
    address: Address
    point: Point | None = Field(
        default=None,
        description="The home on the map (picked, or the device's location). Without it a "
        "dispatcher places the address before suggesting nurses by distance.",
    )
    window_start: Instant = Field(description="The earliest the nurse may come.")
    window_end: Instant = Field(description="The latest the nurse may come.")
    access_notes: Note | None = Field(
        default=None, description="How to get in (door code, floor, dog): sealed, the nurse's."
    )
    reason: Note | None = Field(
        default=None, description="What the visit is for, in words: sealed."
    )
    patient_id: uuid.UUID | None = Field(
        default=None, description="A doctor ordering a visit: the patient (a patient: omit)."
    )
    appointment_id: uuid.UUID | None = Field(
        default=None, description="The consultation the visit follows (one of yours)."
    )


class AssignIn(In):
    nurse_id: uuid.UUID
    point: Point | None = Field(
        default=None, description="Places the address on the map if the request had no point."
    )


class TransitionIn(In):
    to: VisitStatus
    reason: Note | None = Field(
        default=None, description="Why (a cancellation, a decline, a no-show): sealed."
    )
    position: Point | None = Field(
        default=None, description="Where the person making the move is (the nurse's device)."
    )
    accuracy_m: Accuracy | None = None


class PersonOut(BaseModel):
    id: uuid.UUID
    name: str


class TransitionOut(BaseModel):
    seq: int
    from_state: VisitStatus | None
    to_state: VisitStatus
    name: str = Field(description='What the timeline calls the move ("on the way").')
    actor: PersonOut | None
    actor_role: str
    at: datetime
    position: Point | None
    accuracy_m: float | None
    reason: str | None = Field(description="Sealed; shown to the visit's people.")


class PositionOut(BaseModel):
    lat: float
    lng: float
    accuracy_m: float | None
    at: datetime
    distance_m: float | None = Field(description="Straight-line distance to the home.")
    eta_minutes: int | None = Field(description="An estimate at the configured travel speed.")
    near: bool = Field(description='Within the distance at which "Arrived" is offered.')


class VisitOut(BaseModel):
    id: uuid.UUID
    status: VisitStatus
    service: ServiceOut
    patient: PersonOut
    nurse: PersonOut | None
    ordered_by: PersonOut | None
    appointment_id: uuid.UUID | None
    address: str
    point: Point | None
    window_start: datetime
    window_end: datetime
    access_notes: str | None
    reason: str | None
    seq: int
    status_changed_at: datetime
    arrived_at: datetime | None
    completed_at: datetime | None
    position: PositionOut | None = Field(
        description="The nurse's last position while on the way or there (its people only)."
    )
    allowed: list[VisitStatus] = Field(
        description="The statuses the caller may move the visit to now (assign and review "
        "included)."
    )
    created_at: datetime
    conversation_id: uuid.UUID | None = Field(
        default=None,
        description="The visit's conversation between the patient and the nurse (from the "
        "nurse's acceptance on), for its members only: `GET /api/v1/conversations/{id}`.",
    )


class VisitDetailOut(VisitOut):
    timeline: list[TransitionOut]


class VisitPage(BaseModel):
    items: list[VisitOut]
    next_cursor: str | None


class NurseDetailsIn(In):
    base: Point | None = Field(default=None, description="Where the nurse starts from.")
    skills: list[str] = Field(
        default_factory=list, max_length=50, description="Service codes the nurse performs."
    )
    radius_km: float = Field(default=15, gt=0, le=500)
    on_duty: bool = False


class NurseDetailsOut(BaseModel):
    nurse_id: uuid.UUID
    base: Point | None
    skills: list[str]
    radius_km: float
    on_duty: bool
