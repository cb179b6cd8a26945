"""Passkeys (WebAuthn credentials), the challenges of their ceremonies, and each user's count.

Revision ID: 0019_passkeys
Revises: 0018_api_key_last_ip
Create Date: 2026-12-06 15:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0019_passkeys"
down_revision: str | None = "0018_api_key_last_ip"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "users", sa.Column("passkey_count", sa.Integer(), server_default="0", nullable=False)
    )
    op.create_check_constraint(
        op.f("ck_users_passkey_count_not_negative"), "users", "passkey_count >= 0"
    )
    op.create_table(
        "passkeys",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("credential_id", sa.LargeBinary(length=1023), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column(
            "transports",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="[]",
            nullable=False,
        ),
        sa.Column("backed_up", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
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
        sa.CheckConstraint("name ~ '\\S'", name=op.f("ck_passkeys_name_not_blank")),
        sa.CheckConstraint("sign_count >= 0", name=op.f("ck_passkeys_sign_count_not_negative")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_passkeys_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_passkeys")),
        sa.UniqueConstraint("credential_id", name=op.f("uq_passkeys_credential_id")),
    )
    op.create_index(op.f("ix_passkeys_user_id"), "passkeys", ["user_id"], unique=False)
    op.create_table(
        "passkey_challenges",
        sa.Column("challenge_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("ceremony", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "ceremony IN ('register', 'sign_in', 'second_step')",
            name=op.f("ck_passkey_challenges_ceremony"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_passkey_challenges_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("challenge_hash", name=op.f("pk_passkey_challenges")),
    )
    op.create_index(
        op.f("ix_passkey_challenges_expires_at"), "passkey_challenges", ["expires_at"], unique=False
    )
    op.create_index(
        op.f("ix_passkey_challenges_user_id"), "passkey_challenges", ["user_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_passkey_challenges_user_id"), table_name="passkey_challenges")
    op.drop_index(op.f("ix_passkey_challenges_expires_at"), table_name="passkey_challenges")
    op.drop_table("passkey_challenges")
    op.drop_index(op.f("ix_passkeys_user_id"), table_name="passkeys")
    op.drop_table("passkeys")
    op.drop_constraint(op.f("ck_users_passkey_count_not_negative"), "users", type_="check")
    op.drop_column("users", "passkey_count")
