"""Erasure: patients' requests (``erasure_requests``), the storage objects an erasure or a purge
still has to delete (``erasure_files``), and the one way an issued prescription may be deleted:
by the purge of an erased patient's held data once the legal hold has ended (the purge sets
``carebridge.purge`` for its transaction).

Revision ID: 0033_erasure
Revises: 0032_patient_keys
Create Date: 2026-12-07 07:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0033_erasure"
down_revision: str | None = "0032_patient_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PURGE_ALLOWS = """
        IF OLD.status <> 'draft'
           AND coalesce(current_setting('carebridge.purge', true), '') <> 'on' THEN"""
_NO_PURGE = """
        IF OLD.status <> 'draft' THEN"""
_PURGE_ALLOWS_LINES = """
    IF TG_OP = 'DELETE' AND coalesce(current_setting('carebridge.purge', true), '') = 'on' THEN
        RETURN OLD;
    END IF;"""

_PRESCRIPTIONS = """
CREATE OR REPLACE FUNCTION prescriptions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN{purge}
            RAISE EXCEPTION 'an issued prescription cannot be deleted' USING ERRCODE = 'P0001';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status = 'draft' THEN
        RETURN NEW;
    END IF;
    IF NEW.appointment_id IS DISTINCT FROM OLD.appointment_id
       OR NEW.doctor_id IS DISTINCT FROM OLD.doctor_id
       OR NEW.patient_id IS DISTINCT FROM OLD.patient_id
       OR NEW.issued_at IS DISTINCT FROM OLD.issued_at
       OR NEW.verification_code IS DISTINCT FROM OLD.verification_code
       OR (OLD.status = 'cancelled' AND NEW.status <> 'cancelled')
       OR (OLD.status = 'issued' AND NEW.status NOT IN ('issued', 'cancelled'))
       OR ((NEW.diagnosis_sealed IS DISTINCT FROM OLD.diagnosis_sealed
            OR NEW.notes_sealed IS DISTINCT FROM OLD.notes_sealed)
           AND coalesce(current_setting('carebridge.reencrypt', true), '') <> 'on') THEN
        RAISE EXCEPTION 'an issued prescription cannot be changed' USING ERRCODE = 'P0001';
    END IF;
    RETURN NEW;
END
$$
"""

_LINES = """
CREATE OR REPLACE FUNCTION prescription_lines_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    parent_status text;
BEGIN{purge}
    SELECT status INTO parent_status FROM prescriptions
     WHERE id = coalesce(NEW.prescription_id, OLD.prescription_id);
    IF parent_status IS NOT NULL AND parent_status <> 'draft' THEN
        RAISE EXCEPTION 'the lines of an issued prescription cannot be changed'
            USING ERRCODE = 'P0001';
    END IF;
    RETURN coalesce(NEW, OLD);
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "erasure_files",
        sa.Column("storage_key", sa.String(length=400), nullable=False),
        sa.Column("erasure_id", sa.UUID(), nullable=False),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure_files")),
        sa.UniqueConstraint("storage_key", name=op.f("uq_erasure_files_storage_key")),
    )
    op.create_table(
        "erasure_requests",
        sa.Column("patient_id", sa.UUID(), nullable=False),
        sa.Column("requested_by", sa.UUID(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hold_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("postponed", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "erased_rows",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "purged_rows",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure_requests")),
    )
    op.create_index(
        "ix_erasure_requests_due",
        "erasure_requests",
        ["due_at"],
        unique=False,
        postgresql_where=sa.text("cancelled_at IS NULL AND erased_at IS NULL"),
    )
    op.create_index(
        "ix_erasure_requests_held",
        "erasure_requests",
        ["hold_until"],
        unique=False,
        postgresql_where=sa.text("erased_at IS NOT NULL AND purged_at IS NULL"),
    )
    op.create_index(
        "uq_erasure_requests_open",
        "erasure_requests",
        ["patient_id"],
        unique=True,
        postgresql_where=sa.text("cancelled_at IS NULL AND erased_at IS NULL"),
    )
    op.execute(_PRESCRIPTIONS.format(purge=_PURGE_ALLOWS))
    op.execute(_LINES.format(purge=_PURGE_ALLOWS_LINES))


def downgrade() -> None:
    op.execute(_PRESCRIPTIONS.format(purge=_NO_PURGE))
    op.execute(_LINES.format(purge=""))
    op.drop_index(
        "uq_erasure_requests_open",
        table_name="erasure_requests",
        postgresql_where=sa.text("cancelled_at IS NULL AND erased_at IS NULL"),
    )
    op.drop_index(
        "ix_erasure_requests_held",
        table_name="erasure_requests",
        postgresql_where=sa.text("erased_at IS NOT NULL AND purged_at IS NULL"),
    )
    op.drop_index(
        "ix_erasure_requests_due",
        table_name="erasure_requests",
        postgresql_where=sa.text("cancelled_at IS NULL AND erased_at IS NULL"),
    )
    op.drop_table("erasure_requests")
    op.drop_table("erasure_files")
