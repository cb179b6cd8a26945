"""Security alert metrics, read at scrape time: the alerts raised by rule (a count that only
grows: alerts are never deleted), and those still open. Read from the table, so every API
process reports what the workers raised."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.compliance.alert_models import SecurityAlert
from carebridge.compliance.detection import RULES
from carebridge.platform.metrics import Metrics


async def scrape(metrics: Metrics, db: AsyncSession) -> None:
    raised = metrics.gauge(
        "carebridge_security_alerts_raised",
        "Security alerts raised by the detection rules since the start, by rule",
        ["rule"],
    )
    still_open = metrics.gauge(
        "carebridge_security_alerts_open",
        "Security alerts not acknowledged yet, by rule",
        ["rule"],
    )
    rows = (
        await db.execute(
            select(
                SecurityAlert.rule,
                func.count(),
                func.count().filter(SecurityAlert.acknowledged_at.is_(None)),
            ).group_by(SecurityAlert.rule)
        )
    ).all()
    counts = {rule: (int(total), int(unacknowledged)) for rule, total, unacknowledged in rows}
    for rule in RULES:
        total, unacknowledged = counts.get(rule, (0, 0))
        raised.labels(rule=rule).set(total)
        still_open.labels(rule=rule).set(unacknowledged)
