"""Consent: the documents people accept (versioned, written by admins) and each acceptance or
withdrawal, one row each (append-only: the state of a person is their latest row per kind)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from carebridge.platform.models import Base, Model


class ConsentKind(StrEnum):
    terms_of_service = "terms_of_service"
    privacy_notice = "privacy_notice"
    telehealth_consent = "telehealth_consent"
    research_sharing = "research_sharing"


# Kinds a person must accept to use CareBridge; the others may be accepted and withdrawn.
REQUIRED_KINDS = frozenset(
    {ConsentKind.terms_of_service, ConsentKind.privacy_notice, ConsentKind.telehealth_consent}
)
# Kinds about care or health data given by patients: their documents apply to patients only.
PATIENT_KINDS = frozenset({ConsentKind.telehealth_consent, ConsentKind.research_sharing})


class ConsentAction(StrEnum):
    accepted = "accepted"
    withdrawn = "withdrawn"


def _in(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class ConsentDocument(Model):
    """One published version of a kind's document. ``version`` counts 1..n per kind (assigned
    when published); ``acceptance_from`` is the oldest version whose acceptance still holds: its
    own version when it asks everyone to accept again, else the previous version's."""

    __tablename__ = "consent_documents"

    kind: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    roles: Mapped[list[str]] = mapped_column(ARRAY(String(16)))
    requires_reacceptance: Mapped[bool] = mapped_column(Boolean)
    acceptance_from: Mapped[int] = mapped_column(Integer)
    published_at: Mapped[datetime] = mapped_column(server_default=func.now())
    published_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )

    __table_args__ = (
        UniqueConstraint("kind", "version"),
        CheckConstraint(_in("kind", ConsentKind), name="kind"),
        CheckConstraint("version >= 1 AND acceptance_from BETWEEN 1 AND version", name="version"),
        CheckConstraint("cardinality(roles) >= 1", name="roles"),
    )


class ConsentEvent(Base):
    """A person accepted or withdrew one version of a document, from where (address and user
    agent of the request). ``seq`` orders a person's rows (the latest per kind is their state)."""

    __tablename__ = "consent_events"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    seq: Mapped[int] = mapped_column(BigInteger, Identity())
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    document_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("consent_documents.id", ondelete="RESTRICT")
    )
    kind: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(server_default=func.now())
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(400))

    __table_args__ = (
        CheckConstraint(_in("kind", ConsentKind), name="kind"),
        CheckConstraint(_in("action", ConsentAction), name="action"),
        Index("ix_consent_events_user_kind_seq", "user_id", "kind", "seq"),
        Index("ix_consent_events_kind_user_seq", "kind", "user_id", "seq"),
    )
