"""Retention metrics, read at scrape time from the last run's audit row (the run happens in a
worker; any API process shows it)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.compliance.models import AuditEvent
from carebridge.compliance.retention import APPLIED
from carebridge.platform.metrics import Metrics


async def scrape(metrics: Metrics, db: AsyncSession) -> None:
    purged = metrics.gauge(
        "carebridge_retention_purged_rows",
        "Rows the last retention run purged, by class of data",
        ["data_class"],
    )
    last_run = metrics.gauge(
        "carebridge_retention_last_run_timestamp_seconds",
        "When the last retention run ended (Unix time; 0 before the first)",
        [],
    )
    last = (
        await db.execute(
            select(AuditEvent.at, AuditEvent.details)
            .where(AuditEvent.action == APPLIED)
            .order_by(AuditEvent.at.desc())
            .limit(1)
        )
    ).one_or_none()
    purged.clear()
    if last is None:
        last_run.set(0)
        return
    last_run.set(last.at.timestamp())
    for name, count in dict(last.details.get("counts", {})).items():
        purged.labels(data_class=name).set(count)
