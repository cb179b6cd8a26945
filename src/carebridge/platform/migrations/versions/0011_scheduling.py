"""Scheduling and payments: doctors' schedules, exceptions, appointments (double booking made
impossible by exclusion constraints, which need the btree_gist extension for the equality on the
doctor's and patient's ids), reminders, calendar feeds, payments and provider events.

Revision ID: 0011_scheduling
Revises: 0010_directory
Create Date: 2026-12-04 15:44:05.309534
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011_scheduling"
down_revision: str | None = "0010_directory"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A trusted extension since PostgreSQL 13: the database owner may create it.
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.create_table(
        "appointments",
        sa.Column("doctor_id", sa.UUID(), nullable=False),
        sa.Column("patient_id", sa.UUID(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("reason_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("hold_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fee", sa.Integer(), server_default="0", nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("cancelled_by", sa.UUID(), nullable=True),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("request_hash", sa.LargeBinary(), nullable=True),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        postgresql.ExcludeConstraint(
            (sa.column("doctor_id"), "="),
            (sa.text("tstzrange(starts_at, blocked_until)"), "&&"),
            where=sa.text("status <> 'cancelled'"),
            using="gist",
            name="no_double_booking",
        ),
        postgresql.ExcludeConstraint(
            (sa.column("patient_id"), "="),
            (sa.text("tstzrange(starts_at, ends_at)"), "&&"),
            where=sa.text("status <> 'cancelled'"),
            using="gist",
            name="patient_one_at_a_time",
        ),
        sa.CheckConstraint(
            "status <> 'pending_payment' OR hold_expires_at IS NOT NULL",
            name=op.f("ck_appointments_hold"),
        ),
        sa.CheckConstraint(
            "status IN ('pending_payment', 'scheduled', 'in_progress', 'completed', "
            "'cancelled', 'no_show')",
            name=op.f("ck_appointments_status"),
        ),
        sa.CheckConstraint(
            "type IN ('video', 'in_person', 'chat')", name=op.f("ck_appointments_type")
        ),
        sa.CheckConstraint("doctor_id <> patient_id", name=op.f("ck_appointments_two_people")),
        sa.CheckConstraint("fee >= 0", name=op.f("ck_appointments_fee")),
        sa.CheckConstraint(
            "starts_at < ends_at AND ends_at <= blocked_until", name=op.f("ck_appointments_order")
        ),
        sa.ForeignKeyConstraint(
            ["cancelled_by"],
            ["users.id"],
            name=op.f("fk_appointments_cancelled_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["doctor_id"],
            ["users.id"],
            name=op.f("fk_appointments_doctor_id_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["users.id"],
            name=op.f("fk_appointments_patient_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appointments")),
        sa.UniqueConstraint("patient_id", "idempotency_key", name="uq_appointments_idempotency"),
    )
    op.create_index(
        "ix_appointments_doctor_starts", "appointments", ["doctor_id", "starts_at"], unique=False
    )
    op.create_index(
        "ix_appointments_future",
        "appointments",
        ["patient_id", "starts_at"],
        unique=False,
        postgresql_where=sa.text("status IN ('pending_payment', 'scheduled')"),
    )
    op.create_index(
        "ix_appointments_holds",
        "appointments",
        ["hold_expires_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending_payment'"),
    )
    op.create_index(
        "ix_appointments_patient_starts", "appointments", ["patient_id", "starts_at"], unique=False
    )
    op.create_table(
        "calendar_feeds",
        sa.Column("doctor_id", sa.UUID(), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["doctor_id"],
            ["users.id"],
            name=op.f("fk_calendar_feeds_doctor_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_feeds")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_calendar_feeds_token_hash")),
    )
    op.create_index(
        "ix_calendar_feeds_live",
        "calendar_feeds",
        ["doctor_id"],
        unique=True,
        postgresql_where=sa.text("revoked_at IS NULL"),
    )
    op.create_table(
        "doctor_schedules",
        sa.Column("doctor_id", sa.UUID(), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("booking_horizon_days", sa.SmallInteger(), server_default="60", nullable=False),
        sa.Column("min_notice_minutes", sa.Integer(), server_default="120", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "booking_horizon_days BETWEEN 1 AND 366", name=op.f("ck_doctor_schedules_horizon")
        ),
        sa.CheckConstraint(
            "min_notice_minutes BETWEEN 0 AND 43200", name=op.f("ck_doctor_schedules_notice")
        ),
        sa.ForeignKeyConstraint(
            ["doctor_id"],
            ["users.id"],
            name=op.f("fk_doctor_schedules_doctor_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("doctor_id", name=op.f("pk_doctor_schedules")),
    )
    op.create_table(
        "appointment_reminders",
        sa.Column("appointment_id", sa.UUID(), nullable=False),
        sa.Column("recipient_id", sa.UUID(), nullable=False),
        sa.Column("minutes_before", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_appointment_reminders_appointment_id_appointments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["users.id"],
            name=op.f("fk_appointment_reminders_recipient_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "appointment_id",
            "recipient_id",
            "minutes_before",
            name=op.f("pk_appointment_reminders"),
        ),
    )
    op.create_index(
        "ix_appointment_reminders_due",
        "appointment_reminders",
        ["due_at"],
        unique=False,
        postgresql_where=sa.text("sent_at IS NULL"),
    )
    op.create_table(
        "appointment_type_settings",
        sa.Column("doctor_id", sa.UUID(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("duration_minutes", sa.SmallInteger(), nullable=False),
        sa.Column("buffer_minutes", sa.SmallInteger(), server_default="0", nullable=False),
        sa.CheckConstraint(
            "type IN ('video', 'in_person', 'chat')", name=op.f("ck_appointment_type_settings_type")
        ),
        sa.CheckConstraint(
            "buffer_minutes BETWEEN 0 AND 240", name=op.f("ck_appointment_type_settings_buffer")
        ),
        sa.CheckConstraint(
            "duration_minutes BETWEEN 5 AND 480", name=op.f("ck_appointment_type_settings_duration")
        ),
        sa.ForeignKeyConstraint(
            ["doctor_id"],
            ["doctor_schedules.doctor_id"],
            name=op.f("fk_appointment_type_settings_doctor_id_doctor_schedules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("doctor_id", "type", name=op.f("pk_appointment_type_settings")),
    )
    op.create_table(
        "payments",
        sa.Column("appointment_id", sa.UUID(), nullable=False),
        sa.Column("patient_id", sa.UUID(), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("provider_payment_id", sa.String(length=255), nullable=True),
        sa.Column("provider_refund_id", sa.String(length=255), nullable=True),
        sa.Column("failure_reason", sa.String(length=500), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refund_requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refunded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_payments_currency")),
        sa.CheckConstraint("provider IN ('offline', 'stripe')", name=op.f("ck_payments_provider")),
        sa.CheckConstraint(
            "status IN ('requires_payment', 'succeeded', 'failed', 'cancelled', "
            "'refund_pending', 'refunded')",
            name=op.f("ck_payments_status"),
        ),
        sa.CheckConstraint(
            "status NOT IN ('refund_pending', 'refunded') OR refund_requested_at IS NOT NULL",
            name=op.f("ck_payments_refund_requested"),
        ),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_payments_amount")),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_payments_appointment_id_appointments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["users.id"],
            name=op.f("fk_payments_patient_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("appointment_id", name=op.f("uq_payments_appointment_id")),
        sa.UniqueConstraint("provider_payment_id", name=op.f("uq_payments_provider_payment_id")),
    )
    op.create_index(
        "ix_payments_patient_created",
        "payments",
        ["patient_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_payments_refund_pending",
        "payments",
        ["refund_requested_at"],
        unique=False,
        postgresql_where=sa.text("status = 'refund_pending'"),
    )
    op.create_table(
        "schedule_exceptions",
        sa.Column("doctor_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('time_off', 'extra_hours')", name=op.f("ck_schedule_exceptions_kind")
        ),
        sa.CheckConstraint("starts_at < ends_at", name=op.f("ck_schedule_exceptions_order")),
        sa.ForeignKeyConstraint(
            ["doctor_id"],
            ["doctor_schedules.doctor_id"],
            name=op.f("fk_schedule_exceptions_doctor_id_doctor_schedules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_exceptions")),
    )
    op.create_index(
        "ix_schedule_exceptions_doctor",
        "schedule_exceptions",
        ["doctor_id", "ends_at"],
        unique=False,
    )
    op.create_table(
        "schedule_windows",
        sa.Column("doctor_id", sa.UUID(), nullable=False),
        sa.Column("weekday", sa.SmallInteger(), nullable=False),
        sa.Column("starts", sa.Time(), nullable=False),
        sa.Column("ends", sa.Time(), nullable=False),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("starts < ends", name=op.f("ck_schedule_windows_order")),
        sa.CheckConstraint("weekday BETWEEN 0 AND 6", name=op.f("ck_schedule_windows_weekday")),
        sa.ForeignKeyConstraint(
            ["doctor_id"],
            ["doctor_schedules.doctor_id"],
            name=op.f("fk_schedule_windows_doctor_id_doctor_schedules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_windows")),
    )
    op.create_index(
        op.f("ix_schedule_windows_doctor_id"), "schedule_windows", ["doctor_id"], unique=False
    )
    op.create_table(
        "payment_provider_events",
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("payment_id", sa.UUID(), nullable=True),
        sa.Column("outcome", sa.String(length=200), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments.id"],
            name=op.f("fk_payment_provider_events_payment_id_payments"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("provider", "event_id", name=op.f("pk_payment_provider_events")),
    )
    op.create_index(
        "ix_payment_provider_events_received",
        "payment_provider_events",
        ["received_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_payment_provider_events_received", table_name="payment_provider_events")
    op.drop_table("payment_provider_events")
    op.drop_index(op.f("ix_schedule_windows_doctor_id"), table_name="schedule_windows")
    op.drop_table("schedule_windows")
    op.drop_index("ix_schedule_exceptions_doctor", table_name="schedule_exceptions")
    op.drop_table("schedule_exceptions")
    op.drop_index(
        "ix_payments_refund_pending",
        table_name="payments",
        postgresql_where=sa.text("status = 'refund_pending'"),
    )
    op.drop_index("ix_payments_patient_created", table_name="payments")
    op.drop_table("payments")
    op.drop_table("appointment_type_settings")
    op.drop_index(
        "ix_appointment_reminders_due",
        table_name="appointment_reminders",
        postgresql_where=sa.text("sent_at IS NULL"),
    )
    op.drop_table("appointment_reminders")
    op.drop_table("doctor_schedules")
    op.drop_index(
        "ix_calendar_feeds_live",
        table_name="calendar_feeds",
        postgresql_where=sa.text("revoked_at IS NULL"),
    )
    op.drop_table("calendar_feeds")
    op.drop_index("ix_appointments_patient_starts", table_name="appointments")
    op.drop_index(
        "ix_appointments_holds",
        table_name="appointments",
        postgresql_where=sa.text("status = 'pending_payment'"),
    )
    op.drop_index(
        "ix_appointments_future",
        table_name="appointments",
        postgresql_where=sa.text("status IN ('pending_payment', 'scheduled')"),
    )
    op.drop_index("ix_appointments_doctor_starts", table_name="appointments")
    op.drop_table("appointments")
