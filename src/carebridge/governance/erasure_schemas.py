"""The answer about a patient's erasure request."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from carebridge.governance.erasure_models import ErasureRequest


class ErasureStatus(StrEnum):
    scheduled = "scheduled"
    cancelled = "cancelled"
    erased = "erased"


class ErasureOut(BaseModel):
    id: uuid.UUID
    status: ErasureStatus
    requested_at: datetime
    due_at: datetime = Field(description="When the account will be (or was to be) erased.")
    cancelled_at: datetime | None
    erased_at: datetime | None

    @classmethod
    def of(cls, row: ErasureRequest) -> ErasureOut:
        if row.erased_at is not None:
            status = ErasureStatus.erased
        elif row.cancelled_at is not None:
            status = ErasureStatus.cancelled
        else:
            status = ErasureStatus.scheduled
        return cls(
            id=row.id,
            status=status,
            requested_at=row.created_at,
            due_at=row.due_at,
            cancelled_at=row.cancelled_at,
            erased_at=row.erased_at,
        )
