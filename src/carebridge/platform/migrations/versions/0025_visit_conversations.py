"""A home visit's conversation: the kind ``visit``, naming its visit (one per visit), between the
patient and the visit's nurse, without a doctor (``doctor_id`` is empty for this kind only).

Revision ID: 0025_visit_conversations
Revises: 0024_home_visits
Create Date: 2026-12-07 04:04:22.440776
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025_visit_conversations"
down_revision: str | None = "0024_home_visits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("conversations", sa.Column("visit_id", sa.UUID(), nullable=True))
    op.alter_column("conversations", "doctor_id", existing_type=sa.UUID(), nullable=True)
    op.create_unique_constraint(op.f("uq_conversations_visit_id"), "conversations", ["visit_id"])
    op.create_foreign_key(
        op.f("fk_conversations_visit_id_home_visits"),
        "conversations",
        "home_visits",
        ["visit_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.drop_constraint(op.f("ck_conversations_kind"), "conversations", type_="check")
    op.create_check_constraint(
        op.f("ck_conversations_kind"), "conversations", "kind IN ('appointment', 'care', 'visit')"
    )
    op.create_check_constraint(
        op.f("ck_conversations_visit_kind"),
        "conversations",
        "(kind = 'visit') = (visit_id IS NOT NULL)",
    )
    op.create_check_constraint(
        op.f("ck_conversations_doctor_unless_visit"),
        "conversations",
        "(kind = 'visit') = (doctor_id IS NULL)",
    )


def downgrade() -> None:
    op.execute("DELETE FROM conversations WHERE kind = 'visit'")
    op.drop_constraint(op.f("ck_conversations_doctor_unless_visit"), "conversations", type_="check")
    op.drop_constraint(op.f("ck_conversations_visit_kind"), "conversations", type_="check")
    op.drop_constraint(op.f("ck_conversations_kind"), "conversations", type_="check")
    op.create_check_constraint(
        op.f("ck_conversations_kind"), "conversations", "kind IN ('appointment', 'care')"
    )
    op.drop_constraint(
        op.f("fk_conversations_visit_id_home_visits"), "conversations", type_="foreignkey"
    )
    op.drop_constraint(op.f("uq_conversations_visit_id"), "conversations", type_="unique")
    op.alter_column("conversations", "doctor_id", existing_type=sa.UUID(), nullable=False)
    op.drop_column("conversations", "visit_id")
