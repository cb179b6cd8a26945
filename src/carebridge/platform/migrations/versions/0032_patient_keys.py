"""Per-patient data keys: ``patient_keys`` holds each patient's two data keys (``personal`` and
``medical``), sealed by the keyring; destroying a row makes every value it sealed unreadable
(crypto-shredding). Values already sealed stay in the ``cb1`` layout until ``carebridge
reencrypt`` moves them under their patient's keys.

Revision ID: 0032_patient_keys
Revises: 0031_retention
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0032_patient_keys"
down_revision: str | None = "0031_retention"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "patient_keys",
        sa.Column("patient_id", sa.UUID(), nullable=False),
        sa.Column("key_class", sa.String(length=16), nullable=False),
        sa.Column("key_sealed", sa.LargeBinary(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "key_class IN ('personal', 'medical')", name=op.f("ck_patient_keys_key_class_known")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["users.id"],
            name=op.f("fk_patient_keys_patient_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("patient_id", "key_class", name=op.f("pk_patient_keys")),
    )


def downgrade() -> None:
    op.drop_table("patient_keys")
