"""Request and response models of consent: documents, a person's state, acceptances."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from carebridge.compliance.consent_models import ConsentKind
from carebridge.platform.inputs import INT32_MAX, not_blank

RoleName = Literal["patient", "doctor", "nurse", "admin"]
ConsentState = Literal["accepted", "pending", "not_accepted", "withdrawn"]


class ConsentDocumentIn(BaseModel):
    """A new version of a kind's document. The server numbers it (the kind's next version)."""

    model_config = ConfigDict(extra="forbid")

    kind: ConsentKind
    title: Annotated[str, not_blank(200)]
    body: Annotated[str, not_blank(100_000)] = Field(
        description="Plain text (Markdown reads well as it is): shown as written, never as HTML."
    )
    roles: list[RoleName] | None = Field(
        default=None,
        min_length=1,
        max_length=4,
        description="Who it applies to. Default: everyone for the terms and the privacy notice, "
        "patients for `telehealth_consent` and `research_sharing` (patients only).",
    )
    requires_reacceptance: bool = Field(
        default=False,
        description="Whether people who accepted an earlier version must accept this one. "
        "Always true for the required kinds (terms, privacy notice, telehealth consent).",
    )


class ConsentDocumentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: ConsentKind
    version: int
    title: str
    body: str
    roles: list[str]
    required: bool = Field(description="Whether the kind must be accepted to use CareBridge.")
    requires_reacceptance: bool
    published_at: datetime


class ConsentChoice(BaseModel):
    """One document version a person accepts: the current version of its kind."""

    model_config = ConfigDict(extra="forbid")

    kind: ConsentKind
    version: int = Field(ge=1, le=INT32_MAX)


class ConsentAcceptance(BaseModel):
    model_config = ConfigDict(extra="forbid")

    consents: list[ConsentChoice] = Field(min_length=1, max_length=len(ConsentKind))


class MyConsentOut(BaseModel):
    """A current document that applies to the caller, and where the caller stands with it:
    `accepted` (this version or an earlier one that still holds), `pending` (a required kind
    to accept), `not_accepted` (an optional kind never accepted, or whose new version asks
    again), `withdrawn` (an optional kind the caller withdrew)."""

    document: ConsentDocumentOut
    state: ConsentState
    accepted_version: int | None = Field(description="The version the caller last accepted.")
    accepted_at: datetime | None
    withdrawn_at: datetime | None
