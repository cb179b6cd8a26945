"""Background jobs of home visits: the reduction of old tracks.

Every hour, on every worker: the exact track of each visit that ended (completed, signed off,
cancelled, no-show) more than ``CAREBRIDGE_VISIT_TRACK_DAYS`` ago is reduced to its distance
and times, its points deleted and the visit's last position forgotten
(``visits/tracking.py``, ``reduce_batch``), a batch per transaction. Safe to run twice or
concurrently: a batch locks its visits' rows and skips those another worker holds
(``SKIP LOCKED``), and a reduced visit is never taken again. The jobs hold no procrastinate
lock, so a worker killed mid-batch leaves nothing waiting: its transaction rolls back and the
next run takes the batch.

The clock is read in Python and passed in so that the tests can move it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from procrastinate import JobContext

from carebridge.config import Settings
from carebridge.platform.db import Database
from carebridge.platform.jobs import DEFAULT_RETRY, job_app, task_resources
from carebridge.visits.tracking import reduce_batch

log = structlog.get_logger(__name__)

QUEUE = "visits"
BATCH = 200


async def reduce_tracks(
    database: Database, settings: Settings, now: datetime | None = None, batch: int = BATCH
) -> int:
    """Reduce every track past its retention, a batch per transaction; returns how many."""
    now = now or datetime.now(UTC)
    total = 0
    while True:
        async with database.transaction() as db:
            reduced = await reduce_batch(db, settings.visit_track_days, now, batch)
        total += reduced
        if reduced < batch:
            return total


@job_app.periodic(cron="23 * * * *", periodic_id="hourly")
@job_app.task(name="visits.reduce_tracks", queue=QUEUE, pass_context=True, retry=DEFAULT_RETRY)
async def reduce_tracks_task(context: JobContext, timestamp: int) -> None:
    """Reduce the tracks of visits that ended more than the retention ago."""
    resources = task_resources(context)
    reduced = await reduce_tracks(resources.database, resources.settings)
    if reduced:
        log.info("visit_tracks_reduced", count=reduced)
