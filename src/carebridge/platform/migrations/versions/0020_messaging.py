"""Messaging: conversations (an appointment's, or a care thread), their members with how far
each has read, messages numbered per conversation (sealed text, a client-chosen id, tombstones),
and the members' open WebSockets.

Revision ID: 0020_messaging
Revises: 0019_passkeys
Create Date: 2026-12-06 15:20:11.925803
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_messaging"
down_revision: str | None = "0019_passkeys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "messaging_connections",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("process_id", sa.String(length=64), nullable=False),
        sa.Column(
            "seen_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_messaging_connections_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messaging_connections")),
    )
    op.create_index(
        op.f("ix_messaging_connections_process_id"),
        "messaging_connections",
        ["process_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_messaging_connections_user_id"), "messaging_connections", ["user_id"], unique=False
    )
    op.create_table(
        "conversations",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("appointment_id", sa.UUID(), nullable=True),
        sa.Column("patient_id", sa.UUID(), nullable=False),
        sa.Column("doctor_id", sa.UUID(), nullable=False),
        sa.Column("opened_by", sa.UUID(), nullable=True),
        sa.Column("last_seq", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_message_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.UUID(), nullable=True),
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
            "(kind = 'appointment') = (appointment_id IS NOT NULL)",
            name=op.f("ck_conversations_appointment_kind"),
        ),
        sa.CheckConstraint("kind IN ('appointment', 'care')", name=op.f("ck_conversations_kind")),
        sa.CheckConstraint("last_seq >= 0", name=op.f("ck_conversations_last_seq")),
        sa.CheckConstraint("patient_id <> doctor_id", name=op.f("ck_conversations_two_people")),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_conversations_appointment_id_appointments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["closed_by"],
            ["users.id"],
            name=op.f("fk_conversations_closed_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["doctor_id"],
            ["users.id"],
            name=op.f("fk_conversations_doctor_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["opened_by"],
            ["users.id"],
            name=op.f("fk_conversations_opened_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["users.id"],
            name=op.f("fk_conversations_patient_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
        sa.UniqueConstraint("appointment_id", name=op.f("uq_conversations_appointment_id")),
    )
    op.create_index(
        "uq_conversations_care_pair",
        "conversations",
        ["patient_id", "doctor_id"],
        unique=True,
        postgresql_where=sa.text("kind = 'care'"),
    )
    op.create_table(
        "conversation_members",
        sa.Column("conversation_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("added_by", sa.UUID(), nullable=True),
        sa.Column(
            "added_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("last_read_seq", sa.Integer(), server_default="0", nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "role IN ('patient', 'doctor', 'nurse')", name=op.f("ck_conversation_members_role")
        ),
        sa.CheckConstraint(
            "last_read_seq >= 0", name=op.f("ck_conversation_members_last_read_seq")
        ),
        sa.ForeignKeyConstraint(
            ["added_by"],
            ["users.id"],
            name=op.f("fk_conversation_members_added_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_members_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_conversation_members_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conversation_id", "user_id", name=op.f("pk_conversation_members")),
    )
    op.create_index(
        "ix_conversation_members_user", "conversation_members", ["user_id"], unique=False
    )
    op.create_table(
        "messages",
        sa.Column("conversation_id", sa.UUID(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("sender_id", sa.UUID(), nullable=True),
        sa.Column("client_id", sa.UUID(), nullable=False),
        sa.Column("body_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_by", sa.UUID(), nullable=True),
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
            "(deleted_at IS NULL) = (body_sealed IS NOT NULL)", name=op.f("ck_messages_tombstone")
        ),
        sa.CheckConstraint("seq >= 1", name=op.f("ck_messages_seq")),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_messages_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["deleted_by"],
            ["users.id"],
            name=op.f("fk_messages_deleted_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["sender_id"],
            ["users.id"],
            name=op.f("fk_messages_sender_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sa.UniqueConstraint(
            "conversation_id", "sender_id", "client_id", name="uq_messages_client_id"
        ),
        sa.UniqueConstraint("conversation_id", "seq", name="uq_messages_conversation_seq"),
    )


def downgrade() -> None:
    op.drop_table("messages")
    op.drop_index("ix_conversation_members_user", table_name="conversation_members")
    op.drop_table("conversation_members")
    op.drop_index(
        "uq_conversations_care_pair",
        table_name="conversations",
        postgresql_where=sa.text("kind = 'care'"),
    )
    op.drop_table("conversations")
    op.drop_index(op.f("ix_messaging_connections_user_id"), table_name="messaging_connections")
    op.drop_index(op.f("ix_messaging_connections_process_id"), table_name="messaging_connections")
    op.drop_table("messaging_connections")
