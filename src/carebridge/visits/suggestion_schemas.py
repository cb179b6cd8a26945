"""Answers of the dispatcher's suggestions (``GET /api/v1/visits/suggestions``)."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, Field

from carebridge.visits.schemas import PersonOut, Point


class SuggestionOut(BaseModel):
    nurse: PersonOut
    distance_m: float | None = Field(
        description="Straight-line metres from where the nurse is taken to be to the home; null "
        "when they have neither a base nor a recent position."
    )
    measured_from: Literal["last_position", "base"] | None = Field(
        description="`last_position` if the nurse's device reported one in the last 2 hours, "
        "else `base`."
    )
    radius_km: float
    within_radius: bool = Field(description="The home is within the nurse's radius.")
    available: bool = Field(
        description="No other visit of theirs (assigned to arrived, or in progress) overlaps "
        "this visit's window."
    )
    load_today: int = Field(
        description="Their other visits (not cancelled) that start on the visit's day (UTC)."
    )
    on_duty: bool
    score: float = Field(description="0 to 100: the ranking (docs/visits.md, Dispatch).")
    reasons: list[str] = Field(description="The ranking's facts, in words.")


class SuggestionsOut(BaseModel):
    visit_id: uuid.UUID
    point: Point
    items: list[SuggestionOut] = Field(description="The best first.")
