"""The audit trail as CSV (administrators): the events a search matches, newest first, at most
``audit_export_max_rows`` of them, streamed in batches from a read transaction of its own (the
request's has ended when the body is sent). The export is recorded before the first byte
(``audit.exported``, with the filters and the number of rows).

A cell that a spreadsheet would take for a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab
or a carriage return) is written with a leading apostrophe, so opening the file runs nothing.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

from fastapi.responses import StreamingResponse
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.accounts.admin import emails_of
from carebridge.compliance.models import AuditEvent
from carebridge.compliance.schemas import AuditSearch
from carebridge.compliance.service import record
from carebridge.compliance.trail import Resolved, resolve
from carebridge.platform.context import RequestContext
from carebridge.platform.db import Database
from carebridge.platform.runtime import Runtime

COLUMNS = (
    "at",
    "actor_id",
    "actor_email",
    "actor_role",
    "action",
    "outcome",
    "resource_type",
    "resource_id",
    "subject_id",
    "ip",
    "user_agent",
    "request_id",
    "details",
)
BATCH = 500
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> str:
    """A cell's text, neutralised against formula injection."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def _line(values: Sequence[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow([safe_cell(v) for v in values])
    return buffer.getvalue()


def _row(event: AuditEvent, emails: dict[Any, str]) -> list[Any]:
    return [
        event.at.isoformat(),
        event.actor_id,
        emails.get(event.actor_id) if event.actor_id else None,
        event.actor_role,
        event.action,
        event.outcome,
        event.resource_type,
        event.resource_id,
        event.subject_id,
        event.ip,
        event.user_agent,
        event.request_id,
        json.dumps(event.details, sort_keys=True, separators=(",", ":")) if event.details else "",
    ]


async def start_export(
    db: AsyncSession,
    actor: Actor,
    search: AuditSearch,
    *,
    cap: int,
    context: RequestContext,
) -> tuple[Resolved, int]:
    """Resolve the search, count the rows it exports (at most ``cap``) and record the export;
    the rows are streamed by :func:`csv_lines` after the request's transaction."""
    wanted = await resolve(db, search)
    matching = select(AuditEvent.id).where(*wanted.conditions()).limit(cap).subquery()
    count = int(await db.scalar(select(func.count()).select_from(matching)) or 0)
    await record(
        db,
        action="audit.exported",
        actor_id=actor.id,
        actor_role=actor.role,
        resource_type="audit_trail",
        context=context,
        filters=wanted.recorded(),
        count=count,
        cap=cap,
    )
    return wanted, count


async def csv_lines(database: Database, wanted: Resolved, *, cap: int) -> AsyncIterator[str]:
    """The header, then the matching events newest first in batches of ``BATCH``, at most
    ``cap``; a last line says when the cap cut the export short."""
    yield _line(COLUMNS)
    statement = (
        select(AuditEvent)
        .where(*wanted.conditions())
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(cap + 1)
        .execution_options(yield_per=BATCH)
    )
    written = 0
    async with database.transaction() as db:
        result = await db.stream_scalars(statement)
        async for batch in result.partitions(BATCH):
            emails = await emails_of(db, {e.actor_id for e in batch if e.actor_id is not None})
            kept = batch[: cap - written]
            written += len(kept)
            yield "".join(_line(_row(event, emails)) for event in kept)
            if len(kept) < len(batch):
                yield _line([f"# stopped at {cap} rows (CAREBRIDGE_AUDIT_EXPORT_MAX_ROWS)"])
                return


async def csv_response(
    runtime: Runtime,
    actor: Actor,
    search: AuditSearch,
    *,
    db: AsyncSession,
    context: RequestContext,
) -> StreamingResponse:
    """The export as a streamed download (for the API and the admin page alike)."""
    cap = runtime.settings.audit_export_max_rows
    wanted, _ = await start_export(db, actor, search, cap=cap, context=context)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(
        csv_lines(runtime.database, wanted, cap=cap),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="audit-events-{stamp}.csv"'},
    )
