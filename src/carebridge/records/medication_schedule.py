"""When a medication is taken: its slots (a local date and a local time of day) and the instant
each one is due in a time zone. Pure functions: the doses, the adherence and the reminders all
read the schedule here, so they agree.

Daylight-saving rules (PEP 495's ``fold=0``, the same on both sides of every change):

- a time that exists once is due at that local time, whatever the offset that day;
- a time in the hour skipped by a spring-forward change (02:30 in Berlin on 2026-03-29) is due
  at the instant it would have had before the change, i.e. shifted forward by the gap (03:30
  CEST);
- a time in the hour repeated by a fall-back change (01:30 in New York on 2026-11-01) is due at
  its first occurrence, once (a slot is one row of ``record_medication_doses``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

# An unmarked dose is "due" this long after its time, then "missed" (and counts as missed in
# the adherence).
MISSED_AFTER = timedelta(hours=2)


class Scheduled(Protocol):
    """What the schedule reads of a medication (a row)."""

    @property
    def times(self) -> list[time]: ...
    @property
    def weekdays(self) -> list[int]: ...
    @property
    def starts_on(self) -> date: ...
    @property
    def ends_on(self) -> date | None: ...
    @property
    def stopped_at(self) -> datetime | None: ...


def due_at(local_date: date, local_time: time, zone: str) -> datetime:
    """The instant (UTC) a slot is due at in ``zone`` (see the module's DST rules)."""
    return datetime.combine(local_date, local_time, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def local_date_of(at: datetime, zone: str) -> date:
    return at.astimezone(ZoneInfo(zone)).date()


def takes_on(medication: Scheduled, day: date) -> bool:
    """Whether ``day`` is a day of the medication (its dates, its weekdays)."""
    if day < medication.starts_on or (medication.ends_on is not None and day > medication.ends_on):
        return False
    return not medication.weekdays or day.isoweekday() in medication.weekdays


def is_slot(medication: Scheduled, local_date: date, local_time: time, zone: str) -> bool:
    """A time of the medication on a day it is taken, before it was stopped."""
    if local_time not in medication.times or not takes_on(medication, local_date):
        return False
    stopped = medication.stopped_at
    return stopped is None or due_at(local_date, local_time, zone) <= stopped


def slots(
    medication: Scheduled, zone: str, since: datetime, until: datetime
) -> Iterator[tuple[date, time, datetime]]:
    """The slots (local date, local time, due instant) due in [since, until), in order."""
    day = local_date_of(since, zone) - timedelta(days=1)
    last = local_date_of(until, zone) + timedelta(days=1)
    while day <= last:
        for local_time in sorted(medication.times):
            if is_slot(medication, day, local_time, zone):
                at = due_at(day, local_time, zone)
                if since <= at < until:
                    yield day, local_time, at
        day += timedelta(days=1)


# Frequencies a prescription line may say, as the times of day they are taken at.
_EVERY_DAY: dict[str, tuple[int, ...]] = {
    "once a day": (8,),
    "once daily": (8,),
    "daily": (8,),
    "every day": (8,),
    "every morning": (8,),
    "in the morning": (8,),
    "every 24 hours": (8,),
    "at night": (22,),
    "at bedtime": (22,),
    "every evening": (20,),
    "twice a day": (8, 20),
    "twice daily": (8, 20),
    "every 12 hours": (8, 20),
    "three times a day": (8, 14, 20),
    "three times daily": (8, 14, 20),
    "every 8 hours": (6, 14, 22),
    "four times a day": (8, 12, 16, 20),
    "four times daily": (8, 12, 16, 20),
    "every 6 hours": (0, 6, 12, 18),
}
_SPELLED = (
    (r"\b(1|one) times?\b", "once"),
    (r"\b(2|two) times\b", "twice"),
    (r"\b3 times\b", "three times"),
    (r"\b4 times\b", "four times"),
    (r"\b(per|each) day\b", "a day"),
)


def times_for(frequency: str | None) -> list[time]:
    """The times of day a known frequency phrase means ("twice a day": 08:00 and 20:00); empty
    for anything else (the patient sets them)."""
    if not frequency:
        return []
    phrase = " ".join(re.sub(r"[^a-z0-9 ]", " ", frequency.lower()).split())
    for pattern, replacement in _SPELLED:
        phrase = re.sub(pattern, replacement, phrase)
    hours = _EVERY_DAY.get(phrase, ())
    return [time(hour) for hour in hours]


_DURATION = re.compile(r"^(?:for )?(\d{1,3}) (day|days|week|weeks)$")


def ends_on_for(starts_on: date, duration: str | None) -> date | None:
    """The last day of a course ("7 days", "for 2 weeks"); None when the duration says
    something else."""
    if not duration:
        return None
    found = _DURATION.match(" ".join(duration.lower().split()))
    if found is None or int(found.group(1)) == 0:
        return None
    days = int(found.group(1)) * (7 if found.group(2).startswith("week") else 1)
    return starts_on + timedelta(days=days - 1)
