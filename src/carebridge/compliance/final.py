"""Which audit events are final: written by transactions that have all ended.

An event's ``seq`` is taken when it is written, but its transaction may commit later (or roll
back), so the events visible now are not a prefix of ``seq``. Every transaction whose id is below
the oldest transaction still running (``pg_snapshot_xmin`` of the current snapshot) has ended:
the events of those transactions will never change in number. Readers that walk the trail in
order and must not skip a late commit (the seal, the detection rules) take only those, in
``(xact, seq)`` order, after the position they reached last time.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, text, tuple_

from carebridge.compliance.models import AuditEvent

# The id below which every transaction has ended, as the bigint ``audit_events.xact`` holds.
ENDED_BELOW = text("(pg_snapshot_xmin(pg_current_snapshot())::text)::bigint")


def final_after(xact: int, seq: int) -> ColumnElement[bool]:
    """Events of ended transactions that come after ``(xact, seq)`` in the trail's order."""
    return and_(
        AuditEvent.xact < ENDED_BELOW, tuple_(AuditEvent.xact, AuditEvent.seq) > (xact, seq)
    )


# The trail's order for readers of final events.
ORDER = (AuditEvent.xact, AuditEvent.seq)

__all__ = ["ENDED_BELOW", "ORDER", "final_after"]
