"""Open slots, computed (no database here): weekly windows in the doctor's time zone, plus extra
hours, minus time off, cut into slots of the type's length and buffer, minus what is booked or
held, within the booking notice and horizon.

Windows are wall-clock times: each local date's window is turned into instants with that date's
UTC offset, so a 09:00 window stays 09:00 local across a daylight-saving change. A window that
contains the change itself (01:00-04:00 on the night clocks move) lasts its real elapsed time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

Interval = tuple[datetime, datetime]


@dataclass(frozen=True)
class Rules:
    time_zone: str
    windows: Sequence[tuple[int, time, time]]  # (weekday, starts, ends), local
    duration: timedelta
    buffer: timedelta
    min_notice: timedelta
    horizon: timedelta


def _instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def weekly(rules: Rules, start: datetime, end: datetime) -> list[Interval]:
    """The weekly windows as instants, for every local date touching [start, end)."""
    zone = ZoneInfo(rules.time_zone)
    day = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date() + timedelta(days=1)
    found: list[Interval] = []
    while day <= last:
        for weekday, starts, ends in rules.windows:
            if weekday == day.weekday():
                found.append((_instant(day, starts, zone), _instant(day, ends, zone)))
        day += timedelta(days=1)
    return found


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        elif start < end:
            merged.append((start, end))
    return merged


def subtract(intervals: list[Interval], removed: Iterable[Interval]) -> list[Interval]:
    result = intervals
    for cut_start, cut_end in removed:
        kept: list[Interval] = []
        for start, end in result:
            if cut_end <= start or cut_start >= end:
                kept.append((start, end))
                continue
            if start < cut_start:
                kept.append((start, cut_start))
            if cut_end < end:
                kept.append((cut_end, end))
        result = kept
    return result


def open_slots(
    rules: Rules,
    start: datetime,
    end: datetime,
    *,
    now: datetime,
    extra: Iterable[Interval] = (),
    time_off: Iterable[Interval] = (),
    busy: Sequence[Interval] = (),
) -> list[Interval]:
    """Slots (start, end) whose start lies in [start, end), bookable at ``now``.

    ``busy`` holds what booked or held appointments occupy (their start to ``blocked_until``);
    a slot is free when it and its buffer overlap none of them."""
    available = subtract(merge([*weekly(rules, start, end), *extra]), time_off)
    earliest = max(start, now + rules.min_notice)
    latest = min(end, now + rules.horizon)
    step = rules.duration + rules.buffer
    ordered_busy = sorted(busy)
    slots: list[Interval] = []
    for window_start, window_end in available:
        at = window_start
        while at + rules.duration <= window_end:
            if at >= latest:
                break
            if at >= earliest and not _overlaps(ordered_busy, at, at + step):
                slots.append((at, at + rules.duration))
            at += step
    return slots


def _overlaps(busy: Sequence[Interval], start: datetime, end: datetime) -> bool:
    return any(b_start < end and start < b_end for b_start, b_end in busy)
