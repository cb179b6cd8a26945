"""Quiet hours: a daily window in the recipient's own time zone."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo


def quiet_until(now: datetime, zone: str, starts: time, ends: time) -> datetime | None:
    """When the quiet window that contains ``now`` ends (UTC), or None outside the window.
    A window may cross midnight (22:00-07:00); equal bounds mean no window."""
    if starts == ends:
        return None
    local = now.astimezone(ZoneInfo(zone))
    today = local.date()
    for day in (today - timedelta(days=1), today):
        start = datetime.combine(day, starts, tzinfo=local.tzinfo)
        end_day = day if ends > starts else day + timedelta(days=1)
        end = datetime.combine(end_day, ends, tzinfo=local.tzinfo)
        if start <= local < end:
            return end.astimezone(UTC)
    return None
