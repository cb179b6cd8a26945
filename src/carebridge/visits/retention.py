"""How long visits keeps where a nurse went (``platform/retention.py``).

The exact track of a visit that ended (completed, signed off, cancelled, no-show) more than
``CAREBRIDGE_VISIT_TRACK_DAYS`` ago is reduced to its distance and times, its points deleted and
the visit's last position forgotten (``tracking.reduce_batch``), a batch per transaction, by the
daily retention run. Safe to run twice or concurrently: a batch locks its visits' rows and
skips those another run holds (``SKIP LOCKED``), and a reduced visit is never taken again.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.platform.context import CallScope
from carebridge.platform.retention import BATCH_ROWS, DataClass
from carebridge.visits.tracking import reduce_batch, tracks_to_reduce


async def reduce_tracks(db: AsyncSession, scope: CallScope, cutoff: datetime, dry_run: bool) -> int:
    """Reduce (at most a batch of) the tracks of visits that ended before ``cutoff``; a dry run
    counts them all."""
    if dry_run:
        return await tracks_to_reduce(db, cutoff)
    return await reduce_batch(db, cutoff, datetime.now(UTC), BATCH_ROWS)


RETENTION = (
    DataClass(
        name="location_tracks",
        description="The exact positions of a nurse on the way to and at a home visit (and the "
        "visit's last position); the track's distance and times stay",
        where="visit_positions, home_visits.last_lat/last_lng",
        setting="visit_track_days",
        unit="days",
        legal_basis="GDPR Art. 5(1)(c) data minimisation and 5(1)(e) storage limitation: "
        "positions serve the visit under way and questions about it soon after",
        purge=reduce_tracks,
    ),
)
