"""Request and response models of notifications."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from carebridge.platform.inputs import WallTime


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    title: str
    body: str
    data: dict[str, Any]
    link: str | None
    priority: str
    created_at: datetime
    read_at: datetime | None


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    next_cursor: str | None


class UnreadCount(BaseModel):
    unread: int


class ReadAll(BaseModel):
    marked: int


class KindChoices(BaseModel):
    kind: str
    label: str
    mandatory: bool = Field(description="Security messages: the default channels stay on.")
    channels: dict[str, bool] = Field(description="in_app, email, sms, push → on/off")


class QuietHoursIn(BaseModel):
    starts: WallTime = Field(description="Local time in your time zone, e.g. 22:00")
    ends: WallTime = Field(description="Local time in your time zone, e.g. 07:00")


class Preferences(BaseModel):
    kinds: list[KindChoices]
    quiet_hours: QuietHoursIn | None = None


class PreferencesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channels: dict[str, dict[str, bool]] = Field(
        default_factory=dict, description="kind → channel → on/off; kinds left out keep theirs"
    )
    quiet_hours: QuietHoursIn | None = None


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    notification_id: uuid.UUID
    channel: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str | None
    provider_message_id: str | None
    created_at: datetime


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None
