"""Request and response models of the audit trail's admin view."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from carebridge.platform.inputs import Instant


class AuditSearch(BaseModel):
    """What to look for in the audit trail. Every filter is optional; those given must all
    hold. An empty value is no filter."""

    model_config = ConfigDict(populate_by_name=True, str_strip_whitespace=True)

    actor: str | None = Field(
        default=None, max_length=320, description="The actor: an email address or a user id."
    )
    subject: str | None = Field(
        default=None,
        max_length=320,
        description="The patient the events are about: an email address or a user id.",
    )
    action: str | None = Field(
        default=None,
        max_length=64,
        description="An action or its beginning: `auth.` finds every sign-in event.",
    )
    resource_type: str | None = Field(default=None, max_length=64, examples=["user"])
    resource_id: str | None = Field(default=None, max_length=64)
    since: Instant | None = Field(default=None, alias="from", description="At or after.")
    until: Instant | None = Field(default=None, alias="to", description="At or before.")

    @field_validator("actor", "subject", "action", "resource_type", "resource_id", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _in_order(self) -> AuditSearch:
        if self.since is not None and self.until is not None and self.since > self.until:
            raise ValueError("the From time is after the To time")
        return self

    def filters(self) -> dict[str, str]:
        """The filters given, by their query names (for links to the next page)."""
        return {
            key: value.isoformat() if isinstance(value, datetime) else str(value)
            for key, value in self.model_dump(by_alias=True, exclude_none=True).items()
        }


class AuditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    at: datetime
    actor_id: uuid.UUID | None
    actor_email: str | None = Field(description="The actor's email, while the account exists.")
    actor_role: str | None
    action: str
    outcome: str = Field(description="`success`, `failure` or `denied`.")
    resource_type: str | None
    resource_id: str | None
    subject_id: uuid.UUID | None = Field(description="The patient the event is about, if any.")
    ip: str | None
    user_agent: str | None
    request_id: str | None
    details: dict[str, Any] = Field(description="Ids and reasons only: never PHI or secrets.")


class AccessOut(BaseModel):
    """One access by someone else to data about you."""

    at: datetime
    actor_id: uuid.UUID | None
    actor_name: str = Field(description="Who: their name, while the account exists.")
    actor_role: str | None = Field(description="`doctor`, `nurse`, `admin`, ...")
    action: str = Field(examples=["record.read", "visit.report.read", "messages.read"])
    outcome: str = Field(description="`success`, or `denied` for a refused attempt.")
    resource_type: str | None = Field(examples=["patient_record", "home_visit", "message"])
    section: str | None = Field(default=None, description="The record's section, for a record.")
    basis: str | None = Field(
        default=None, description="`care`, `grant` or `emergency` for a clinician's record read."
    )
