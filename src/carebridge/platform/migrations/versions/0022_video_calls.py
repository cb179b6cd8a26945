"""Calls of video appointments: the room of each (calls), the clinicians the doctor invited
(call_guests), each join (call_participants, at most one live per person and call) and the
quality the clients reported (call_quality).
Revision ID: 0022_video_calls
Revises: 0021_message_attachments
Create Date: 2026-12-06 21:20:01.495997
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_video_calls"
down_revision: str | None = "0021_message_attachments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "call_guests",
        sa.Column("appointment_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("invited_by", sa.UUID(), nullable=False),
        sa.Column("invited_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_call_guests_appointment_id_appointments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["invited_by"],
            ["users.id"],
            name=op.f("fk_call_guests_invited_by_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_call_guests_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("appointment_id", "user_id", name=op.f("pk_call_guests")),
    )
    op.create_table(
        "calls",
        sa.Column("appointment_id", sa.UUID(), nullable=False),
        sa.Column("connected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_by", sa.UUID(), nullable=True),
        sa.Column("doctor_status_before", sa.String(length=16), nullable=True),
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
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_calls_appointment_id_appointments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ended_by"], ["users.id"], name=op.f("fk_calls_ended_by_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calls")),
        sa.UniqueConstraint("appointment_id", name=op.f("uq_calls_appointment_id")),
    )
    op.create_table(
        "call_participants",
        sa.Column("call_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("admitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("admitted_by", sa.UUID(), nullable=True),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("left_reason", sa.String(length=16), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("relayed", sa.Boolean(), nullable=True),
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
            "(state = 'left') = (left_at IS NOT NULL)", name=op.f("ck_call_participants_left_at")
        ),
        sa.CheckConstraint(
            "state IN ('waiting', 'in_call', 'left')", name=op.f("ck_call_participants_state")
        ),
        sa.ForeignKeyConstraint(
            ["admitted_by"],
            ["users.id"],
            name=op.f("fk_call_participants_admitted_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["calls.id"],
            name=op.f("fk_call_participants_call_id_calls"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_call_participants_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_participants")),
    )
    op.create_index(
        "ix_call_participants_call", "call_participants", ["call_id", "joined_at"], unique=False
    )
    op.create_index(
        "ix_call_participants_live_seen",
        "call_participants",
        ["last_seen_at"],
        unique=False,
        postgresql_where=sa.text("state <> 'left'"),
    )
    op.create_index(
        "uq_call_participants_live",
        "call_participants",
        ["call_id", "user_id"],
        unique=True,
        postgresql_where=sa.text("state <> 'left'"),
    )
    op.create_table(
        "call_quality",
        sa.Column("participant_id", sa.UUID(), nullable=False),
        sa.Column("round_trip_ms", sa.Float(), nullable=True),
        sa.Column("packet_loss", sa.Float(), nullable=True),
        sa.Column("frames_decoded", sa.Integer(), nullable=True),
        sa.Column("relayed", sa.Boolean(), nullable=True),
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
        sa.CheckConstraint("frames_decoded >= 0", name=op.f("ck_call_quality_frames_decoded")),
        sa.CheckConstraint("packet_loss BETWEEN 0 AND 1", name=op.f("ck_call_quality_packet_loss")),
        sa.CheckConstraint("round_trip_ms >= 0", name=op.f("ck_call_quality_round_trip_ms")),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["call_participants.id"],
            name=op.f("fk_call_quality_participant_id_call_participants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_quality")),
    )
    op.create_index(
        op.f("ix_call_quality_participant_id"), "call_quality", ["participant_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_call_quality_participant_id"), table_name="call_quality")
    op.drop_table("call_quality")
    op.drop_index(
        "uq_call_participants_live",
        table_name="call_participants",
        postgresql_where=sa.text("state <> 'left'"),
    )
    op.drop_index(
        "ix_call_participants_live_seen",
        table_name="call_participants",
        postgresql_where=sa.text("state <> 'left'"),
    )
    op.drop_index("ix_call_participants_call", table_name="call_participants")
    op.drop_table("call_participants")
    op.drop_table("calls")
    op.drop_table("call_guests")
