"""Instants as people read them."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo


def local_time(at: datetime, zone: str) -> str:
    """ "Mon 30 Mar 2026, 09:00 CEST" in the reader's time zone."""
    return at.astimezone(ZoneInfo(zone)).strftime("%a %d %b %Y, %H:%M %Z")
