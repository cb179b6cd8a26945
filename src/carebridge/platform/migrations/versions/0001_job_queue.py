"""Job queue: the procrastinate schema, as shipped with procrastinate 3.10.0.

The schema is a frozen copy, ``0001_job_queue.sql`` next to this file (procrastinate's
``SchemaManager.get_schema()`` of that release, byte for byte), so that upgrading the library
cannot change what this revision creates. When procrastinate is upgraded, add a revision that
runs the SQL files of its ``sql/migrations`` folder that are newer than 3.10.0.

Revision ID: 0001_job_queue
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence
from pathlib import Path

from carebridge.platform.migrate import execute_script

revision: str = "0001_job_queue"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = Path(__file__).with_suffix(".sql")


def upgrade() -> None:
    execute_script(SCHEMA.read_text(encoding="utf-8"))


def downgrade() -> None:
    execute_script(
        """
        DROP TABLE IF EXISTS procrastinate_events, procrastinate_periodic_defers,
            procrastinate_jobs, procrastinate_workers CASCADE;
        DO $$
        DECLARE fn regprocedure; kind "char";
        BEGIN
            FOR fn, kind IN SELECT p.oid::regprocedure, p.prokind FROM pg_proc p
                JOIN pg_namespace n ON n.oid = p.pronamespace
                WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate\\_%'
            LOOP
                IF kind = 'p' THEN EXECUTE 'DROP PROCEDURE ' || fn;
                ELSE EXECUTE 'DROP FUNCTION ' || fn; END IF;
            END LOOP;
        END $$;
        DROP TYPE IF EXISTS procrastinate_job_to_defer_v1, procrastinate_job_status,
            procrastinate_job_event_type;
        """,
    )
