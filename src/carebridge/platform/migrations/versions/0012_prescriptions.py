"""Prescriptions and reviews.

An issued prescription is immutable in the database itself: a trigger refuses changes to an
issued or cancelled prescription's content and to its medication lines. What may still change:
cancelling an issued one (status, cancelled_at, cancel_reason), the PDF's storage fields, and
the sealed columns while a re-encryption runs (it sets ``carebridge.reencrypt`` to ``on`` for its
transaction; the plaintext does not change, only the key that seals it).

Revision ID: 0012_prescriptions
Revises: 0011_scheduling
Create Date: 2026-12-04 16:37:31.362100
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from carebridge.platform.migrate import execute_script

revision: str = "0012_prescriptions"
down_revision: str | None = "0011_scheduling"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


IMMUTABLE = """
CREATE FUNCTION prescriptions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'draft' THEN
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
END $$;

CREATE TRIGGER prescriptions_immutable BEFORE UPDATE OR DELETE ON prescriptions
    FOR EACH ROW EXECUTE FUNCTION prescriptions_immutable();

CREATE FUNCTION prescription_lines_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    parent_status text;
BEGIN
    SELECT status INTO parent_status FROM prescriptions
     WHERE id = coalesce(NEW.prescription_id, OLD.prescription_id);
    IF parent_status IS NOT NULL AND parent_status <> 'draft' THEN
        RAISE EXCEPTION 'the lines of an issued prescription cannot be changed'
            USING ERRCODE = 'P0001';
    END IF;
    RETURN coalesce(NEW, OLD);
END $$;

CREATE TRIGGER prescription_lines_immutable BEFORE INSERT OR UPDATE OR DELETE
    ON prescription_lines FOR EACH ROW EXECUTE FUNCTION prescription_lines_immutable();
"""


def upgrade() -> None:
    op.create_table(
        "prescriptions",
        sa.Column("appointment_id", sa.UUID(), nullable=False),
        sa.Column("doctor_id", sa.UUID(), nullable=False),
        sa.Column("patient_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="draft", nullable=False),
        sa.Column("diagnosis_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("notes_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verification_code", sa.String(length=32), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_reason", sa.String(length=500), nullable=True),
        sa.Column("pdf_status", sa.String(length=16), nullable=True),
        sa.Column("pdf_key", sa.String(length=300), nullable=True),
        sa.Column("pdf_rendered_at", sa.DateTime(timezone=True), nullable=True),
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
            "pdf_status IS NULL OR pdf_status IN ('pending', 'ready', 'failed')",
            name=op.f("ck_prescriptions_pdf_status"),
        ),
        sa.CheckConstraint(
            "status = 'draft' OR (issued_at IS NOT NULL AND verification_code IS NOT NULL) "
            "OR cancelled_at IS NOT NULL",
            name=op.f("ck_prescriptions_issued_fields"),
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'issued', 'cancelled')", name=op.f("ck_prescriptions_status")
        ),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_prescriptions_appointment_id_appointments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["doctor_id"],
            ["users.id"],
            name=op.f("fk_prescriptions_doctor_id_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["users.id"],
            name=op.f("fk_prescriptions_patient_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prescriptions")),
        sa.UniqueConstraint("verification_code", name=op.f("uq_prescriptions_verification_code")),
    )
    op.create_index(
        op.f("ix_prescriptions_appointment_id"), "prescriptions", ["appointment_id"], unique=False
    )
    op.create_index(
        "ix_prescriptions_doctor", "prescriptions", ["doctor_id", "created_at"], unique=False
    )
    op.create_index(
        "ix_prescriptions_patient", "prescriptions", ["patient_id", "created_at"], unique=False
    )
    op.create_index(
        "ix_prescriptions_pdf_pending",
        "prescriptions",
        ["issued_at"],
        unique=False,
        postgresql_where=sa.text("pdf_status = 'pending'"),
    )
    op.create_table(
        "reviews",
        sa.Column("appointment_id", sa.UUID(), nullable=False),
        sa.Column("doctor_id", sa.UUID(), nullable=False),
        sa.Column("patient_id", sa.UUID(), nullable=False),
        sa.Column("rating", sa.SmallInteger(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("replied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hidden_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hidden_by", sa.UUID(), nullable=True),
        sa.Column("hidden_reason", sa.Text(), nullable=True),
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
            "hidden_at IS NULL OR hidden_reason IS NOT NULL", name=op.f("ck_reviews_hidden_reason")
        ),
        sa.CheckConstraint("length(comment) <= 2000", name=op.f("ck_reviews_comment_length")),
        sa.CheckConstraint("length(reply) <= 2000", name=op.f("ck_reviews_reply_length")),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name=op.f("ck_reviews_rating")),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_reviews_appointment_id_appointments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["doctor_id"], ["users.id"], name=op.f("fk_reviews_doctor_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["hidden_by"],
            ["users.id"],
            name=op.f("fk_reviews_hidden_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["users.id"],
            name=op.f("fk_reviews_patient_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
        sa.UniqueConstraint("appointment_id", name=op.f("uq_reviews_appointment_id")),
    )
    op.create_index(
        "ix_reviews_doctor_visible",
        "reviews",
        ["doctor_id", "created_at"],
        unique=False,
        postgresql_where=sa.text("hidden_at IS NULL"),
    )
    op.create_table(
        "prescription_lines",
        sa.Column("prescription_id", sa.UUID(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("strength", sa.String(length=100), nullable=True),
        sa.Column("dose", sa.String(length=100), nullable=True),
        sa.Column("route", sa.String(length=50), nullable=True),
        sa.Column("frequency", sa.String(length=100), nullable=True),
        sa.Column("duration", sa.String(length=100), nullable=True),
        sa.Column("quantity", sa.String(length=50), nullable=True),
        sa.Column("refills", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("instructions", sa.Text(), nullable=True),
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
            "length(instructions) <= 1000", name=op.f("ck_prescription_lines_instructions_length")
        ),
        sa.CheckConstraint(
            "position BETWEEN 1 AND 50", name=op.f("ck_prescription_lines_position")
        ),
        sa.CheckConstraint("refills BETWEEN 0 AND 12", name=op.f("ck_prescription_lines_refills")),
        sa.ForeignKeyConstraint(
            ["prescription_id"],
            ["prescriptions.id"],
            name=op.f("fk_prescription_lines_prescription_id_prescriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prescription_lines")),
        sa.UniqueConstraint("prescription_id", "position", name="uq_prescription_lines_position"),
    )
    execute_script(IMMUTABLE)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS prescription_lines_immutable ON prescription_lines")
    op.execute("DROP TRIGGER IF EXISTS prescriptions_immutable ON prescriptions")
    op.execute("DROP FUNCTION IF EXISTS prescription_lines_immutable()")
    op.execute("DROP FUNCTION IF EXISTS prescriptions_immutable()")
    op.drop_table("prescription_lines")
    op.drop_index(
        "ix_reviews_doctor_visible",
        table_name="reviews",
        postgresql_where=sa.text("hidden_at IS NULL"),
    )
    op.drop_table("reviews")
    op.drop_index(
        "ix_prescriptions_pdf_pending",
        table_name="prescriptions",
        postgresql_where=sa.text("pdf_status = 'pending'"),
    )
    op.drop_index("ix_prescriptions_patient", table_name="prescriptions")
    op.drop_index("ix_prescriptions_doctor", table_name="prescriptions")
    op.drop_index(op.f("ix_prescriptions_appointment_id"), table_name="prescriptions")
    op.drop_table("prescriptions")
