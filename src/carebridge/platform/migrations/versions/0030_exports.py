"""Data exports: a patient's export request, its build status, its sealed ZIP's storage key and
when it expires; at most one pending or building per patient (a partial unique index).

Revision ID: 0030_exports
Revises: 0029_consents
Create Date: 2026-12-07 07:26:49.612775
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030_exports"
down_revision: str | None = "0029_consents"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "data_exports",
        sa.Column("patient_id", sa.UUID(), nullable=False),
        sa.Column("requested_by_id", sa.UUID(), nullable=True),
        sa.Column("on_behalf", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("ready_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("storage_key", sa.String(length=200), nullable=True),
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
            "status <> 'ready' OR (storage_key IS NOT NULL AND expires_at IS NOT NULL)",
            name=op.f("ck_data_exports_ready"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'building', 'ready', 'failed', 'expired')",
            name=op.f("ck_data_exports_status"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["users.id"],
            name=op.f("fk_data_exports_patient_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["users.id"],
            name=op.f("fk_data_exports_requested_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_exports")),
    )
    op.create_index(
        "ix_data_exports_open",
        "data_exports",
        ["status"],
        unique=False,
        postgresql_where=sa.text("status IN ('pending', 'building', 'ready')"),
    )
    op.create_index(
        "ix_data_exports_patient_created",
        "data_exports",
        ["patient_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "uq_data_exports_in_progress",
        "data_exports",
        ["patient_id"],
        unique=True,
        postgresql_where=sa.text("status IN ('pending', 'building')"),
    )


def downgrade() -> None:
    op.drop_index(
        "uq_data_exports_in_progress",
        table_name="data_exports",
        postgresql_where=sa.text("status IN ('pending', 'building')"),
    )
    op.drop_index("ix_data_exports_patient_created", table_name="data_exports")
    op.drop_index(
        "ix_data_exports_open",
        table_name="data_exports",
        postgresql_where=sa.text("status IN ('pending', 'building', 'ready')"),
    )
    op.drop_table("data_exports")
