"""Tables of home visits (domain ``visits``).

A visit is one nurse's trip to one patient's home for one service of the catalog
(``visits/catalog.py``). Its ``status`` moves only along ``visit_state_moves`` (the pairs of
``visits/states.py``, which a trigger enforces on every update, whoever makes it), and every move
is a ``visit_transitions`` row numbered without gaps per visit (``seq``), so concurrent requests
leave one history. The address, access notes, reasons and the report are sealed with the keyring
(``visits/sealed.py``); the map point stays plain so PostgreSQL computes distances.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from carebridge.platform.models import Base, Model


class VisitStatus(StrEnum):
    requested = "requested"
    assigned = "assigned"
    accepted = "accepted"
    en_route = "en_route"
    arrived = "arrived"
    in_progress = "in_progress"
    completed = "completed"
    signed_off = "signed_off"
    cancelled = "cancelled"
    no_show = "no_show"


class ReportStatus(StrEnum):
    draft = "draft"
    submitted = "submitted"
    changes_requested = "changes_requested"
    signed_off = "signed_off"


def _in(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


_POINT = (
    "({lat} IS NULL) = ({lng} IS NULL) AND "
    "({lat} IS NULL OR ({lat} BETWEEN -90 AND 90 AND {lng} BETWEEN -180 AND 180))"
)


def _point(lat: str, lng: str) -> str:
    return _POINT.format(lat=lat, lng=lng)


class VisitNurse(Base):
    """A nurse's dispatch details: where they start from, what they do, how far they go, whether
    they are on duty now, and their last known position."""

    __tablename__ = "visit_nurses"

    nurse_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    base_lat: Mapped[float | None] = mapped_column(Float)
    base_lng: Mapped[float | None] = mapped_column(Float)
    skills: Mapped[list[str]] = mapped_column(ARRAY(String(32)), server_default="{}")
    radius_km: Mapped[float] = mapped_column(Float, server_default="15")
    on_duty: Mapped[bool] = mapped_column(Boolean, server_default="false")
    last_lat: Mapped[float | None] = mapped_column(Float)
    last_lng: Mapped[float | None] = mapped_column(Float)
    last_position_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())

    __table_args__ = (
        CheckConstraint(_point("base_lat", "base_lng"), name="base_point"),
        CheckConstraint(_point("last_lat", "last_lng"), name="last_point"),
        CheckConstraint("radius_km > 0 AND radius_km <= 500", name="radius"),
    )


class VisitStateMove(Base):
    """The moves a visit's status may make (``visits/states.py``): a trigger on ``home_visits``
    refuses any other, and each transition row must name one."""

    __tablename__ = "visit_state_moves"

    from_state: Mapped[str] = mapped_column(String(16), primary_key=True)
    to_state: Mapped[str] = mapped_column(String(16), primary_key=True)


class Visit(Model):
    __tablename__ = "home_visits"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    service: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), server_default=VisitStatus.requested.value)
    requested_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    # The doctor who ordered it after a consultation (None: the patient asked).
    ordered_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    appointment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("appointments.id", ondelete="SET NULL")
    )
    nurse_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    address_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    lat: Mapped[float | None] = mapped_column(Float)
    lng: Mapped[float | None] = mapped_column(Float)
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    access_notes_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    reason_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    # The number of transitions so far (the last one's ``seq``).
    seq: Mapped[int] = mapped_column(Integer, server_default="0")
    status_changed_at: Mapped[datetime] = mapped_column(server_default=func.now())
    arrived_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    # The nurse's last position while on the way or there (the patient's map on reconnect).
    last_lat: Mapped[float | None] = mapped_column(Float)
    last_lng: Mapped[float | None] = mapped_column(Float)
    last_accuracy_m: Mapped[float | None] = mapped_column(Float)
    last_position_at: Mapped[datetime | None]
    # After ``CAREBRIDGE_VISIT_TRACK_DAYS`` the track is reduced to these (``visits/tasks.py``).
    track_distance_m: Mapped[float | None] = mapped_column(Float)
    track_started_at: Mapped[datetime | None]
    track_ended_at: Mapped[datetime | None]
    track_reduced_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint(_in("status", VisitStatus), name="status"),
        CheckConstraint(_point("lat", "lng"), name="point"),
        CheckConstraint(_point("last_lat", "last_lng"), name="last_point"),
        CheckConstraint("window_end > window_start", name="window"),
        CheckConstraint("seq >= 0", name="seq"),
        # Requested: nobody is assigned; from assigned on, a nurse is (a cancelled visit keeps
        # whoever it had).
        CheckConstraint(
            "(status = 'requested') = (nurse_id IS NULL) OR status = 'cancelled'",
            name="nurse_when_assigned",
        ),
        Index("ix_home_visits_patient", "patient_id", "created_at"),
        Index("ix_home_visits_nurse", "nurse_id", "window_start"),
        Index("ix_home_visits_status", "status", "window_start"),
    )


class VisitTransition(Model):
    """One move of a visit's status: who made it, when, where they were, and why (sealed)."""

    __tablename__ = "visit_transitions"

    visit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("home_visits.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_role: Mapped[str] = mapped_column(String(16))
    # The nurse the visit has after this move (assignments and declines change it).
    nurse_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(server_default=func.now())
    lat: Mapped[float | None] = mapped_column(Float)
    lng: Mapped[float | None] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    reason_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)

    __table_args__ = (
        UniqueConstraint("visit_id", "seq"),
        CheckConstraint("seq >= 1", name="seq"),
        CheckConstraint(_point("lat", "lng"), name="point"),
        # The first row has no ``from_state`` (MATCH SIMPLE lets it through); every other names
        # a legal move.
        ForeignKeyConstraint(
            ["from_state", "to_state"],
            ["visit_state_moves.from_state", "visit_state_moves.to_state"],
            name="fk_visit_transitions_move",
        ),
        CheckConstraint("(seq = 1) = (from_state IS NULL)", name="first_has_no_source"),
    )


class VisitPosition(Base):
    """One position the nurse's device sent while on the way or at the home."""

    __tablename__ = "visit_positions"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    visit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("home_visits.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    lat: Mapped[float] = mapped_column(Float)
    lng: Mapped[float] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (
        CheckConstraint(_point("lat", "lng"), name="point"),
        Index("ix_visit_positions_visit", "visit_id", "at"),
    )


class VisitReport(Base):
    """The nurse's report of a visit (sealed), its review by a doctor and their sign-off."""

    __tablename__ = "visit_reports"

    visit_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("home_visits.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(20), server_default=ReportStatus.draft.value)
    nurse_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    submitted_at: Mapped[datetime | None]
    reviewer_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    reviewed_at: Mapped[datetime | None]
    changes_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    rating: Mapped[int | None] = mapped_column(SmallInteger)
    feedback_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    signed_at: Mapped[datetime | None]
    # The record's observations this report wrote (replaced when it is submitted again).
    observation_ids: Mapped[list[uuid.UUID]] = mapped_column(
        ARRAY(UUID(as_uuid=True)), server_default="{}"
    )
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())

    __table_args__ = (
        CheckConstraint(_in("status", ReportStatus), name="status"),
        CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="rating"),
        CheckConstraint(
            "(status = 'signed_off') = (signed_at IS NOT NULL)", name="signed_when_signed_off"
        ),
        Index(
            "ix_visit_reports_queue",
            "submitted_at",
            postgresql_where=text("status = 'submitted'"),
        ),
    )


class VisitPhoto(Model):
    """A photo attached to a report (a wound), kept sealed in storage (``visit-photo:<id>``)."""

    __tablename__ = "visit_photos"

    visit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("home_visits.id", ondelete="CASCADE"))
    uploaded_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    storage_key: Mapped[str] = mapped_column(String(300))
    caption_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)

    __table_args__ = (Index("ix_visit_photos_visit", "visit_id", "created_at"),)
