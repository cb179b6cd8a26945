"""Message attachments: one row per file sent with a message (its type, safe name, size, the
storage keys of the sealed file and thumbnail, and its malware scan's state).

Revision ID: 0021_message_attachments
Revises: 0020_messaging
Create Date: 2026-12-06 16:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_message_attachments"
down_revision: str | None = "0020_messaging"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "message_attachments",
        sa.Column("message_id", sa.UUID(), nullable=False),
        sa.Column("conversation_id", sa.UUID(), nullable=False),
        sa.Column("uploader_id", sa.UUID(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("media_type", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=160), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("storage_key", sa.String(length=200), nullable=False),
        sa.Column("thumbnail_key", sa.String(length=200), nullable=True),
        sa.Column("scan_state", sa.String(length=16), nullable=False),
        sa.Column("scanned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("signature", sa.String(length=200), nullable=True),
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
            "scan_state IN ('pending', 'clean', 'infected', 'not_scanned')",
            name=op.f("ck_message_attachments_scan_state"),
        ),
        sa.CheckConstraint(
            "position >= 0 AND position < 5", name=op.f("ck_message_attachments_position")
        ),
        sa.CheckConstraint("size > 0", name=op.f("ck_message_attachments_size")),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_message_attachments_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_message_attachments_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["uploader_id"],
            ["users.id"],
            name=op.f("fk_message_attachments_uploader_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_attachments")),
    )
    op.create_index(
        "ix_message_attachments_conversation_id",
        "message_attachments",
        ["conversation_id"],
        unique=False,
    )
    op.create_index(
        "ix_message_attachments_pending",
        "message_attachments",
        ["created_at"],
        unique=False,
        postgresql_where=sa.text("scan_state = 'pending'"),
    )
    op.create_index(
        "uq_message_attachments_message_position",
        "message_attachments",
        ["message_id", "position"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_table("message_attachments")
