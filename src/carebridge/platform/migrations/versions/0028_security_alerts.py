"""Security alerts (``security_alerts``: a detection rule that fired, deduplicated per rule,
scope and window) and the positions of the audit trail's readers (``audit_trail_positions``).

Revision ID: 0028_security_alerts
Revises: 0027_audit_seal
Create Date: 2026-12-07 07:24:21.727916
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0028_security_alerts"
down_revision: str | None = "0027_audit_seal"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_trail_positions",
        sa.Column("reader", sa.String(length=32), nullable=False),
        sa.Column("xact", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("seq", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("reader", name=op.f("pk_audit_trail_positions")),
    )
    op.create_table(
        "security_alerts",
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("scope_key", sa.String(length=160), nullable=False),
        sa.Column("actor_id", sa.UUID(), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("subject_id", sa.UUID(), nullable=True),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "details",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "raised_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.UUID(), nullable=True),
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
            "severity IN ('medium', 'high')", name=op.f("ck_security_alerts_severity")
        ),
        sa.CheckConstraint("window_start < window_end", name=op.f("ck_security_alerts_window")),
        sa.ForeignKeyConstraint(
            ["acknowledged_by"],
            ["users.id"],
            name=op.f("fk_security_alerts_acknowledged_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_alerts")),
    )
    op.create_index(
        "ix_security_alerts_raised_at", "security_alerts", ["raised_at", "id"], unique=False
    )
    op.create_index(
        "uq_security_alerts_rule_scope_window",
        "security_alerts",
        ["rule", "scope_key", "window_start"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_security_alerts_rule_scope_window", table_name="security_alerts")
    op.drop_index("ix_security_alerts_raised_at", table_name="security_alerts")
    op.drop_table("security_alerts")
    op.drop_table("audit_trail_positions")
