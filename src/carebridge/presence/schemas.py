from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from carebridge.presence.models import Status


class StatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Status


class PresenceOut(BaseModel):
    doctor_id: uuid.UUID
    name: str
    status: Status
    version: int
    changed_at: datetime
    last_online_at: datetime | None


class FollowOut(BaseModel):
    doctor_id: uuid.UUID
    name: str
    status: Status
    last_online_at: datetime | None
    followed_at: datetime
