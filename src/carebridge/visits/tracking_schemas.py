"""Requests and answers of the nurse's live location and the visit's track."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from carebridge.visits.schemas import Accuracy, Latitude, Longitude


class PositionIn(BaseModel):
    """The client frame ``{"type": "position", "visit_id", "lat", "lng", "accuracy_m"}``."""

    model_config = ConfigDict(extra="ignore")  # the frame's ``type`` and ``id``

    visit_id: uuid.UUID
    lat: Latitude
    lng: Longitude
    accuracy_m: Accuracy | None = None


class TrackPoint(BaseModel):
    lat: float
    lng: float
    accuracy_m: float | None
    at: datetime


class TrackOut(BaseModel):
    visit_id: uuid.UUID
    reduced: bool = Field(
        description="The exact points were deleted (`CAREBRIDGE_VISIT_TRACK_DAYS` after the "
        "visit ended): only the distance and the times are kept."
    )
    points: list[TrackPoint] = Field(description="Oldest first; empty once reduced.")
    distance_m: float | None = Field(
        description="The length of the track (straight legs between the points); null without "
        "points."
    )
    started_at: datetime | None
    ended_at: datetime | None
