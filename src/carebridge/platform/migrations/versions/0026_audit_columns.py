"""The audit trail's order and subject: ``seq`` (an identity: the order events were written),
``xact`` (the writing transaction, ``pg_current_xact_id()``: the seal takes only events of ended
transactions) and ``subject_id`` (the patient whose data an event is about).

Revision ID: 0026_audit_columns
Revises: 0025_visit_conversations
Create Date: 2026-12-07 07:18:18.724703
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026_audit_columns"
down_revision: str | None = "0025_visit_conversations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "audit_events", sa.Column("seq", sa.BigInteger(), sa.Identity(always=False), nullable=False)
    )
    op.add_column(
        "audit_events",
        sa.Column(
            "xact",
            sa.BigInteger(),
            server_default=sa.text("(pg_current_xact_id()::text)::bigint"),
            nullable=False,
        ),
    )
    op.add_column("audit_events", sa.Column("subject_id", sa.UUID(), nullable=True))
    op.create_index(
        "ix_audit_events_subject_at", "audit_events", ["subject_id", "at"], unique=False
    )
    op.create_index("ix_audit_events_xact_seq", "audit_events", ["xact", "seq"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_audit_events_xact_seq", table_name="audit_events")
    op.drop_index("ix_audit_events_subject_at", table_name="audit_events")
    op.drop_column("audit_events", "subject_id")
    op.drop_column("audit_events", "xact")
    op.drop_column("audit_events", "seq")
