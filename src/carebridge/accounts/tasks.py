"""Background jobs of accounts: clean-up of expired WebSocket tickets and passkey challenges.
Used or expired one-time links are a class of the daily retention run
(``accounts/retention.py``)."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from procrastinate import JobContext
from sqlalchemy import delete

from carebridge.accounts.models import RealtimeTicket
from carebridge.accounts.passkeys import purge_challenges
from carebridge.platform.jobs import DEFAULT_RETRY, job_app, task_resources

log = structlog.get_logger(__name__)


@job_app.periodic(cron="43 * * * *", periodic_id="hourly")
@job_app.task(
    name="accounts.purge_expired_passes",
    queue="housekeeping",
    pass_context=True,
    retry=DEFAULT_RETRY,
)
async def purge_expired_passes_task(context: JobContext, timestamp: int) -> None:
    """Delete expired WebSocket tickets (a redeemed ticket is deleted when it is used) and
    passkey challenges that expired unused."""
    async with task_resources(context).database.transaction() as db:
        tickets = await db.execute(
            delete(RealtimeTicket).where(RealtimeTicket.expires_at < datetime.now(UTC))
        )
        challenges = await purge_challenges(db)
    log.info(
        "expired_passes_purged",
        realtime_tickets=getattr(tickets, "rowcount", None),
        passkey_challenges=challenges,
    )
