"""Retention of the audit trail: ``compliance_purge_audit``, the one way audit events are ever
deleted.

The function runs as the schema's owner (``SECURITY DEFINER``; the application's role may execute
it, ``roles.grant_application_privileges``, PUBLIC may not) and deletes only whole sealed batches
(``audit_batches``, written by the seal) all of whose events are older than the cutoff, with
those batch rows; it refuses a cutoff less than six years ago (HIPAA 45 CFR 164.316(b)(2)),
whatever its caller asks. The append-only trigger lets a DELETE through only inside it: while it
has set ``carebridge.audit_purge`` for its transaction and runs as the table's owner (the
application's role can set the flag, but is not the owner and holds no DELETE right).

``audit_batches`` comes with the seal's migration; PL/pgSQL resolves names when the function
runs, so the function is created here either way and works once both exist (the retention run
skips the audit class until then). It reads a batch's ``number`` (its order) and
``last_xact``/``last_seq`` (the trail position of its last event, ``compliance/final.py``).

Revision ID: 0031_retention
Revises: 0030_exports
Create Date: 2026-12-07 08:00:00
"""

from collections.abc import Sequence

from alembic import op

from carebridge.platform.migrate import execute_script

revision: str = "0031_retention"
down_revision: str | None = "0030_exports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GUARD = """
CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE'
       AND current_setting('carebridge.audit_purge', true) = 'on'
       AND current_user = (SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = TG_RELID)
    THEN
        RETURN OLD;  -- compliance_purge_audit, below
    END IF;
    RAISE EXCEPTION '{table} is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
"""
# The trail and its seal: the purge deletes whole batches with their events.
GUARDED = ("audit_events", "audit_batches")

PURGE = """
CREATE FUNCTION compliance_purge_audit(cutoff timestamptz, max_events bigint, dry_run boolean)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
DECLARE
    batch record;
    last_number bigint;
    after_xact bigint := -1;
    after_seq bigint := -1;
    in_batch bigint;
    newer boolean;
    counted bigint := 0;
    purged bigint;
BEGIN
    IF cutoff IS NULL OR cutoff > now() - interval '6 years' THEN
        RAISE EXCEPTION 'audit events are kept at least six years: cutoff % is too recent',
            cutoff USING ERRCODE = 'check_violation';
    END IF;
    -- The oldest batches first, while every event of the batch is older than the cutoff; a
    -- real run stops before going past max_events (but takes one batch at least).
    FOR batch IN SELECT number, last_xact, last_seq FROM audit_batches ORDER BY number LOOP
        SELECT count(*), coalesce(bool_or(e.at >= cutoff), false) INTO in_batch, newer
        FROM audit_events e
        WHERE (e.xact, e.seq) > (after_xact, after_seq)
          AND (e.xact, e.seq) <= (batch.last_xact, batch.last_seq);
        EXIT WHEN newer;
        EXIT WHEN NOT dry_run AND counted > 0 AND counted + in_batch > max_events;
        counted := counted + in_batch;
        last_number := batch.number;
        after_xact := batch.last_xact;
        after_seq := batch.last_seq;
    END LOOP;
    IF dry_run OR last_number IS NULL THEN
        RETURN counted;
    END IF;
    PERFORM set_config('carebridge.audit_purge', 'on', true);
    DELETE FROM audit_events e WHERE (e.xact, e.seq) <= (after_xact, after_seq);
    GET DIAGNOSTICS purged = ROW_COUNT;
    DELETE FROM audit_batches WHERE number <= last_number;
    PERFORM set_config('carebridge.audit_purge', 'off', true);
    RETURN purged;
END $$;
REVOKE ALL ON FUNCTION compliance_purge_audit(timestamptz, bigint, boolean) FROM PUBLIC;
"""

ORIGINAL_GUARD = """
CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{table} is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
"""


def upgrade() -> None:
    schema = op.get_bind().exec_driver_sql("SELECT quote_ident(current_schema())").scalar_one()
    for table in GUARDED:
        execute_script(GUARD.replace("{table}", table))
    execute_script(PURGE.replace("{schema}", schema))


def downgrade() -> None:
    op.execute("DROP FUNCTION compliance_purge_audit(timestamptz, bigint, boolean)")
    for table in GUARDED:
        execute_script(ORIGINAL_GUARD.replace("{table}", table))
