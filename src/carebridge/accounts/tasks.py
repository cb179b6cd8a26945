"""Background jobs of accounts: clean-up of one-time links (their emails go through the
notifications outbox)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import structlog
from procrastinate import JobContext
from sqlalchemy import delete, or_

from carebridge.accounts.models import OneTimeToken, RealtimeTicket
from carebridge.accounts.passkeys import purge_challenges
from carebridge.platform.jobs import DEFAULT_RETRY, job_app, task_resources

log = structlog.get_logger(__name__)


@job_app.periodic(cron="43 * * * *", periodic_id="hourly")
@job_app.task(
    name="accounts.purge_one_time_tokens",
    queue="housekeeping",
    pass_context=True,
    retry=DEFAULT_RETRY,
)
async def purge_one_time_tokens_task(context: JobContext, timestamp: int) -> None:
    """Delete links that expired or were used more than a day ago, expired WebSocket tickets
    (a redeemed ticket is deleted when it is used) and passkey challenges that expired unused."""
    cutoff = datetime.now(UTC) - timedelta(days=1)
    async with task_resources(context).database.transaction() as db:
        result = await db.execute(
            delete(OneTimeToken).where(
                or_(OneTimeToken.expires_at < cutoff, OneTimeToken.used_at < cutoff)
            )
        )
        tickets = await db.execute(
            delete(RealtimeTicket).where(RealtimeTicket.expires_at < datetime.now(UTC))
        )
        challenges = await purge_challenges(db)
    log.info(
        "one_time_tokens_purged",
        deleted=getattr(result, "rowcount", None),
        realtime_tickets=getattr(tickets, "rowcount", None),
        passkey_challenges=challenges,
    )
