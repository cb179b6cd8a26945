"""Consent: ``consent_documents`` (each published version of a kind's document, numbered per
kind, with the roles it applies to and the oldest version whose acceptance still holds) and
``consent_events`` (each acceptance and withdrawal, with the request's address and user agent;
written once: a trigger refuses UPDATE).

Revision ID: 0029_consents
Revises: 0028_security_alerts
Create Date: 2026-12-07 07:27:52.567856
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029_consents"
down_revision: str | None = "0028_security_alerts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "consent_documents",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("roles", sa.ARRAY(sa.String(length=16)), nullable=False),
        sa.Column("requires_reacceptance", sa.Boolean(), nullable=False),
        sa.Column("acceptance_from", sa.Integer(), nullable=False),
        sa.Column(
            "published_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("published_by_id", sa.UUID(), nullable=True),
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
            "kind IN ('terms_of_service', 'privacy_notice', 'telehealth_consent', "
            "'research_sharing')",
            name=op.f("ck_consent_documents_kind"),
        ),
        sa.CheckConstraint("cardinality(roles) >= 1", name=op.f("ck_consent_documents_roles")),
        sa.CheckConstraint(
            "version >= 1 AND acceptance_from BETWEEN 1 AND version",
            name=op.f("ck_consent_documents_version"),
        ),
        sa.ForeignKeyConstraint(
            ["published_by_id"],
            ["users.id"],
            name=op.f("fk_consent_documents_published_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_documents")),
        sa.UniqueConstraint("kind", "version", name=op.f("uq_consent_documents_kind_version")),
    )
    op.create_table(
        "consent_events",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("document_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=400), nullable=True),
        sa.CheckConstraint(
            "action IN ('accepted', 'withdrawn')", name=op.f("ck_consent_events_action")
        ),
        sa.CheckConstraint(
            "kind IN ('terms_of_service', 'privacy_notice', 'telehealth_consent', "
            "'research_sharing')",
            name=op.f("ck_consent_events_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["consent_documents.id"],
            name=op.f("fk_consent_events_document_id_consent_documents"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_consent_events_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_events")),
    )
    # An answer is written once: what a person accepted, when and from where is never changed
    # (rows go only with their person, by the foreign key's cascade).
    op.execute(
        """
        CREATE FUNCTION consent_events_unchanged() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'consent_events is written once: UPDATE refused'
                USING ERRCODE = 'insufficient_privilege';
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER consent_events_no_update BEFORE UPDATE ON consent_events "
        "FOR EACH ROW EXECUTE FUNCTION consent_events_unchanged()"
    )
    op.create_index(
        "ix_consent_events_kind_user_seq",
        "consent_events",
        ["kind", "user_id", "seq"],
        unique=False,
    )
    op.create_index(
        "ix_consent_events_user_kind_seq",
        "consent_events",
        ["user_id", "kind", "seq"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_consent_events_user_kind_seq", table_name="consent_events")
    op.drop_index("ix_consent_events_kind_user_seq", table_name="consent_events")
    op.drop_table("consent_events")
    op.execute("DROP FUNCTION consent_events_unchanged()")
    op.drop_table("consent_documents")
