"""The seal of the audit trail: ``audit_batches``, signed batches of audit events chained by
their hashes (``compliance/seal.py``), append-only as ``audit_events``: a trigger refuses UPDATE,
DELETE and TRUNCATE, and the application's role is granted neither (``platform/roles.py``).

Revision ID: 0027_audit_seal
Revises: 0026_audit_columns
Create Date: 2026-12-07 07:25:28.251803
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027_audit_seal"
down_revision: str | None = "0026_audit_columns"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_batches",
        sa.Column("number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("first_xact", sa.BigInteger(), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_xact", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("leaves", sa.LargeBinary(), nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("prev_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.LargeBinary(length=64), nullable=False),
        sa.Column("sealed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(first_xact, first_seq) <= (last_xact, last_seq)",
            name=op.f("ck_audit_batches_positions"),
        ),
        sa.CheckConstraint("event_count >= 1", name=op.f("ck_audit_batches_event_count")),
        sa.CheckConstraint("number >= 1", name=op.f("ck_audit_batches_number")),
        sa.CheckConstraint(
            "octet_length(leaves) = 40 * event_count", name=op.f("ck_audit_batches_leaves")
        ),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_audit_batches")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_batches_hash")),
    )
    op.execute(
        """
        CREATE FUNCTION audit_batches_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_batches is append-only: % refused', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER audit_batches_no_change BEFORE UPDATE OR DELETE ON audit_batches "
        "FOR EACH ROW EXECUTE FUNCTION audit_batches_append_only()"
    )
    op.execute(
        "CREATE TRIGGER audit_batches_no_truncate BEFORE TRUNCATE ON audit_batches "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_batches_append_only()"
    )


def downgrade() -> None:
    op.drop_table("audit_batches")  # its triggers go with it
    op.execute("DROP FUNCTION audit_batches_append_only()")
