"""Background jobs of accounts: the emails with one-time links, and their clean-up."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import structlog
from procrastinate import JobContext
from sqlalchemy import delete, or_

from carebridge.accounts import links
from carebridge.accounts.models import OneTimeToken, User, UserStatus
from carebridge.platform.jobs import DEFAULT_RETRY, job_app, task_resources
from carebridge.platform.mail import transport_for

log = structlog.get_logger(__name__)


@job_app.task(
    name="accounts.send_verification_email", queue="email", pass_context=True, retry=DEFAULT_RETRY
)
async def send_verification_email_task(
    context: JobContext, user_id: str, new_email: str | None = None
) -> None:
    """Create a verification link and email it. The token row and the email succeed or fail
    together: a failed send rolls the token back and the job retries with a new one."""
    resources = task_resources(context)
    async with resources.database.transaction() as db:
        user = await db.get(User, uuid.UUID(user_id))
        if user is None or user.status == UserStatus.disabled:
            return
        if new_email is None and user.email_verified_at is not None:
            return
        await links.send_verification(
            db, transport_for(resources.settings), resources.settings, user, new_email
        )


@job_app.task(
    name="accounts.send_password_reset_email", queue="email", pass_context=True, retry=DEFAULT_RETRY
)
async def send_password_reset_email_task(context: JobContext, user_id: str) -> None:
    resources = task_resources(context)
    async with resources.database.transaction() as db:
        user = await db.get(User, uuid.UUID(user_id))
        if user is None or user.status == UserStatus.disabled:
            return
        await links.send_password_reset(
            db, transport_for(resources.settings), resources.settings, user
        )


@job_app.periodic(cron="43 * * * *", periodic_id="hourly")
@job_app.task(
    name="accounts.purge_one_time_tokens",
    queue="housekeeping",
    pass_context=True,
    retry=DEFAULT_RETRY,
)
async def purge_one_time_tokens_task(context: JobContext, timestamp: int) -> None:
    """Delete links that expired or were used more than a day ago."""
    cutoff = datetime.now(UTC) - timedelta(days=1)
    async with task_resources(context).database.transaction() as db:
        result = await db.execute(
            delete(OneTimeToken).where(
                or_(OneTimeToken.expires_at < cutoff, OneTimeToken.used_at < cutoff)
            )
        )
    log.info("one_time_tokens_purged", deleted=getattr(result, "rowcount", None))
