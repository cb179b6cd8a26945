"""Doctor presence, connections, follows; one-time WebSocket tickets.

Revision ID: 0009_presence
Revises: 0008_push_subscriptions
Create Date: 2026-11-25 10:48:23.716675
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_presence"
down_revision: str | None = "0008_push_subscriptions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(sa.schema.CreateSequence(sa.Sequence("presence_version_seq")))
    op.create_table(
        "doctor_follows",
        sa.Column("patient_id", sa.UUID(), nullable=False),
        sa.Column("doctor_id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("last_notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["doctor_id"],
            ["users.id"],
            name=op.f("fk_doctor_follows_doctor_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["users.id"],
            name=op.f("fk_doctor_follows_patient_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("patient_id", "doctor_id", name=op.f("pk_doctor_follows")),
    )
    op.create_index(
        "ix_doctor_follows_doctor", "doctor_follows", ["doctor_id", "patient_id"], unique=False
    )
    op.create_table(
        "doctor_presence",
        sa.Column("doctor_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="offline", nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column(
            "changed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("last_online_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disconnected_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('online', 'busy', 'offline')", name=op.f("ck_doctor_presence_status")
        ),
        sa.ForeignKeyConstraint(
            ["doctor_id"],
            ["users.id"],
            name=op.f("fk_doctor_presence_doctor_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("doctor_id", name=op.f("pk_doctor_presence")),
    )
    op.create_index(
        "ix_doctor_presence_live",
        "doctor_presence",
        ["status"],
        unique=False,
        postgresql_where=sa.text("status <> 'offline'"),
    )
    op.create_table(
        "presence_connections",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("doctor_id", sa.UUID(), nullable=False),
        sa.Column("process_id", sa.String(length=64), nullable=False),
        sa.Column(
            "seen_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["doctor_id"],
            ["users.id"],
            name=op.f("fk_presence_connections_doctor_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_presence_connections")),
    )
    op.create_index(
        op.f("ix_presence_connections_doctor_id"),
        "presence_connections",
        ["doctor_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_presence_connections_process_id"),
        "presence_connections",
        ["process_id"],
        unique=False,
    )
    op.create_table(
        "realtime_tickets",
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("session_id", sa.UUID(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["auth_sessions.id"],
            name=op.f("fk_realtime_tickets_session_id_auth_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_realtime_tickets")),
    )
    op.create_index(
        op.f("ix_realtime_tickets_expires_at"), "realtime_tickets", ["expires_at"], unique=False
    )
    op.create_index(
        op.f("ix_realtime_tickets_session_id"), "realtime_tickets", ["session_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_realtime_tickets_session_id"), table_name="realtime_tickets")
    op.drop_index(op.f("ix_realtime_tickets_expires_at"), table_name="realtime_tickets")
    op.drop_table("realtime_tickets")
    op.drop_index(op.f("ix_presence_connections_process_id"), table_name="presence_connections")
    op.drop_index(op.f("ix_presence_connections_doctor_id"), table_name="presence_connections")
    op.drop_table("presence_connections")
    op.drop_index(
        "ix_doctor_presence_live",
        table_name="doctor_presence",
        postgresql_where=sa.text("status <> 'offline'"),
    )
    op.drop_table("doctor_presence")
    op.drop_index("ix_doctor_follows_doctor", table_name="doctor_follows")
    op.drop_table("doctor_follows")
    op.execute(sa.schema.DropSequence(sa.Sequence("presence_version_seq")))
