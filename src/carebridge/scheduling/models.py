"""Tables of scheduling: a doctor's weekly availability, dated exceptions, appointments and their
reminders.

A double booking is impossible in the database: ``appointments`` carries an exclusion constraint
over (doctor, [starts_at, blocked_until)) for every appointment that is not cancelled, where
``blocked_until`` is the end plus the appointment type's buffer. A second one keeps a patient from
holding two appointments at the same time. The loser of a race gets the constraint's error,
which the service answers as 409 ``slot_taken``.
"""

from __future__ import annotations

import uuid
from datetime import datetime, time
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column

from carebridge.platform.models import Base, Model


class AppointmentType(StrEnum):
    video = "video"
    in_person = "in_person"
    chat = "chat"


class AppointmentStatus(StrEnum):
    pending_payment = "pending_payment"  # held for the patient until paid or expired
    scheduled = "scheduled"
    in_progress = "in_progress"
    completed = "completed"
    cancelled = "cancelled"
    no_show = "no_show"


class ExceptionKind(StrEnum):
    time_off = "time_off"
    extra_hours = "extra_hours"


class Schedule(Base):
    """A doctor's booking rules. Weekly windows are wall-clock times in ``time_zone``: a window
    09:00-12:00 stays 09:00-12:00 local on both sides of a daylight-saving change."""

    __tablename__ = "doctor_schedules"

    doctor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    time_zone: Mapped[str] = mapped_column(String(64))
    booking_horizon_days: Mapped[int] = mapped_column(SmallInteger, server_default="60")
    min_notice_minutes: Mapped[int] = mapped_column(server_default="120")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())

    __table_args__ = (
        CheckConstraint("booking_horizon_days BETWEEN 1 AND 366", name="horizon"),
        CheckConstraint("min_notice_minutes BETWEEN 0 AND 43200", name="notice"),
    )


class ScheduleWindow(Model):
    """Weekly availability: ``weekday`` 0 = Monday, local wall-clock ``starts``-``ends``."""

    __tablename__ = "schedule_windows"

    doctor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("doctor_schedules.doctor_id", ondelete="CASCADE"), index=True
    )
    weekday: Mapped[int] = mapped_column(SmallInteger)
    starts: Mapped[time]
    ends: Mapped[time]

    __table_args__ = (
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday"),
        CheckConstraint("starts < ends", name="order"),
    )


class TypeSetting(Base):
    """Which appointment types a doctor offers, how long each lasts and the pause after it."""

    __tablename__ = "appointment_type_settings"

    doctor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("doctor_schedules.doctor_id", ondelete="CASCADE"), primary_key=True
    )
    type: Mapped[str] = mapped_column(String(16), primary_key=True)
    duration_minutes: Mapped[int] = mapped_column(SmallInteger)
    buffer_minutes: Mapped[int] = mapped_column(SmallInteger, server_default="0")

    __table_args__ = (
        CheckConstraint("type IN ('video', 'in_person', 'chat')", name="type"),
        CheckConstraint("duration_minutes BETWEEN 5 AND 480", name="duration"),
        CheckConstraint("buffer_minutes BETWEEN 0 AND 240", name="buffer"),
    )


class ScheduleException(Model):
    """A dated change: time off removes availability, extra hours add it. Stored as an instant
    range, computed from the doctor's local date and times when it was created."""

    __tablename__ = "schedule_exceptions"

    doctor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("doctor_schedules.doctor_id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(16))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    note: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        CheckConstraint("kind IN ('time_off', 'extra_hours')", name="kind"),
        CheckConstraint("starts_at < ends_at", name="order"),
        Index("ix_schedule_exceptions_doctor", "doctor_id", "ends_at"),
    )


_LIVE = text("status <> 'cancelled'")
_FUTURE_HOLDING = text("status IN ('pending_payment', 'scheduled')")


class Appointment(Model):
    __tablename__ = "appointments"

    doctor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(20))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    # End plus the type's buffer: what the doctor's calendar holds.
    blocked_until: Mapped[datetime]
    time_zone: Mapped[str] = mapped_column(String(64))  # the doctor's, when booked
    # The reason for the visit is health information: sealed with the keyring.
    reason_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    # An unpaid hold lapses at this instant (pending_payment only).
    hold_expires_at: Mapped[datetime | None]
    fee: Mapped[int] = mapped_column(server_default="0")  # minor units, from the doctor's profile
    currency: Mapped[str | None] = mapped_column(String(3))
    cancelled_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    cancelled_at: Mapped[datetime | None]
    confirmed_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_hash: Mapped[bytes | None] = mapped_column(LargeBinary)

    __table_args__ = (
        CheckConstraint("type IN ('video', 'in_person', 'chat')", name="type"),
        CheckConstraint(
            "status IN ('pending_payment', 'scheduled', 'in_progress', 'completed', "
            "'cancelled', 'no_show')",
            name="status",
        ),
        CheckConstraint("starts_at < ends_at AND ends_at <= blocked_until", name="order"),
        CheckConstraint("status <> 'pending_payment' OR hold_expires_at IS NOT NULL", name="hold"),
        CheckConstraint("fee >= 0", name="fee"),
        CheckConstraint("doctor_id <> patient_id", name="two_people"),
        ExcludeConstraint(
            ("doctor_id", "="),
            (func.tstzrange(text("starts_at"), text("blocked_until")), "&&"),
            name="no_double_booking",
            using="gist",
            where=_LIVE,
        ),
        ExcludeConstraint(
            ("patient_id", "="),
            (func.tstzrange(text("starts_at"), text("ends_at")), "&&"),
            name="patient_one_at_a_time",
            using="gist",
            where=_LIVE,
        ),
        UniqueConstraint("patient_id", "idempotency_key", name="uq_appointments_idempotency"),
        Index("ix_appointments_doctor_starts", "doctor_id", "starts_at"),
        Index("ix_appointments_patient_starts", "patient_id", "starts_at"),
        Index(
            "ix_appointments_holds",
            "hold_expires_at",
            postgresql_where=text("status = 'pending_payment'"),
        ),
        Index(
            "ix_appointments_future", "patient_id", "starts_at", postgresql_where=_FUTURE_HOLDING
        ),
    )


class Reminder(Base):
    """One reminder of one appointment to one person: sent at most once, because the job claims
    the row (sets ``sent_at``) in the transaction that writes the notification."""

    __tablename__ = "appointment_reminders"

    appointment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("appointments.id", ondelete="CASCADE"), primary_key=True
    )
    recipient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    minutes_before: Mapped[int] = mapped_column(primary_key=True)
    due_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_appointment_reminders_due", "due_at", postgresql_where=text("sent_at IS NULL")),
    )


class CalendarFeed(Model):
    """A doctor's private iCalendar feed: the URL's token, stored hashed; revocable."""

    __tablename__ = "calendar_feeds"

    doctor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    revoked_at: Mapped[datetime | None]

    __table_args__ = (
        Index(
            "ix_calendar_feeds_live",
            "doctor_id",
            unique=True,
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )
