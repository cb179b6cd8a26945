"""Request and response models of the security alerts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Rule = Literal["record_snooping", "break_the_glass", "failed_signins", "bulk_export"]


class AlertSearch(BaseModel):
    """Which alerts: every filter optional."""

    rule: Rule | None = Field(default=None, description="Only this rule's alerts.")
    state: Literal["open", "acknowledged"] | None = Field(
        default=None, description="`open`: not acknowledged yet; `acknowledged`: the others."
    )


class SecurityAlertOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    rule: str = Field(description="The rule that fired.")
    severity: str = Field(description="`medium` or `high`.")
    actor_id: uuid.UUID | None = Field(description="Whose actions fired it, where one person's.")
    actor_email: str | None = Field(description="The actor's email, while the account exists.")
    ip: str | None = Field(description="The address, for failed sign-ins.")
    subject_id: uuid.UUID | None = Field(description="The patient concerned, where one is.")
    window_start: datetime
    window_end: datetime
    details: dict[str, Any] = Field(description="Counts, thresholds and ids: never PHI.")
    raised_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: uuid.UUID | None
