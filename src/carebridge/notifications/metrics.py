"""Delivery metrics, read at scrape time."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.notifications.models import Channel, Delivery, DeliveryStatus
from carebridge.platform.metrics import Metrics


async def scrape(metrics: Metrics, db: AsyncSession) -> None:
    by_status = metrics.gauge(
        "carebridge_notification_deliveries",
        "Deliveries by channel and status",
        ["channel", "status"],
    )
    attempts = metrics.gauge(
        "carebridge_notification_delivery_attempts",
        "Delivery attempts made, by channel",
        ["channel"],
    )
    lag = metrics.gauge(
        "carebridge_notification_queue_lag_seconds",
        "How long the oldest due delivery has been waiting, by channel",
        ["channel"],
    )
    rows = (
        await db.execute(
            select(
                Delivery.channel, Delivery.status, func.count(), func.sum(Delivery.attempts)
            ).group_by(Delivery.channel, Delivery.status)
        )
    ).all()
    by_status.clear()
    totals: dict[str, int] = {}
    for channel, status, count, tried in rows:
        by_status.labels(channel=channel, status=status).set(count)
        totals[channel] = totals.get(channel, 0) + int(tried or 0)
    for channel in Channel:
        attempts.labels(channel=channel.value).set(totals.get(channel.value, 0))
    now = datetime.now(UTC)
    oldest = dict(
        (
            await db.execute(
                select(Delivery.channel, func.min(Delivery.next_attempt_at))
                .where(
                    Delivery.status.in_([DeliveryStatus.pending, DeliveryStatus.failed]),
                    Delivery.next_attempt_at <= now,
                )
                .group_by(Delivery.channel)
            )
        ).all()
    )
    for channel in Channel:
        due_since = oldest.get(channel.value)
        lag.labels(channel=channel.value).set((now - due_since).total_seconds() if due_since else 0)
