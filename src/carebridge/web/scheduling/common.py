"""What every scheduling page shares: the names of types and statuses, times in the reader's
zone, the actions the service allows, appointments grouped by local day.

Times are shown in the reader's zone (``scheduling.schedules.reader_zone``): patients in their
account's zone, doctors in their schedule's zone; the zone is stated on every page that lists
times.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request

from carebridge.accounts.actors import Actor
from carebridge.config import Settings
from carebridge.platform.deps import Session
from carebridge.platform.errors import CareBridgeError
from carebridge.platform.pagination import MAX_PAGE_SIZE
from carebridge.platform.times import local_time
from carebridge.scheduling import lifecycle, service
from carebridge.scheduling.models import AppointmentStatus, AppointmentType
from carebridge.scheduling.schemas import AppointmentOut

WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
TYPE_NAMES = {
    AppointmentType.video: "Video call",
    AppointmentType.in_person: "Visit at the clinic",
    AppointmentType.chat: "Chat",
}
STATUS_NAMES = {
    AppointmentStatus.pending_payment: "awaiting payment",
    AppointmentStatus.scheduled: "scheduled",
    AppointmentStatus.in_progress: "in progress",
    AppointmentStatus.completed: "completed",
    AppointmentStatus.cancelled: "cancelled",
    AppointmentStatus.no_show: "missed",
}
DONE = {
    "confirm": "Appointment confirmed.",
    "start": "Appointment started.",
    "complete": "Appointment completed.",
    "no_show": "Marked as missed.",
    "cancel": "Appointment cancelled.",
    "reschedule": "Appointment moved.",
    "booked": "Booked. We sent you the details.",
}


def local(at: datetime, zone: str) -> datetime:
    return at.astimezone(ZoneInfo(zone))


def hhmm(at: datetime, zone: str) -> str:
    return local(at, zone).strftime("%H:%M")


def day_name(day: date) -> str:
    return f"{WEEKDAYS[day.weekday()]} {day.day} {day.strftime('%B')}"


def short_day(at: datetime, zone: str) -> str:
    return local(at, zone).strftime("%a %d %b")


def when(at: datetime, zone: str) -> str:
    return local_time(at, zone)


def iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def helpers(**values: Any) -> dict[str, Any]:
    return {
        "hhmm": hhmm,
        "when": when,
        "short_day": short_day,
        "day_name": day_name,
        "iso": iso,
        "type_names": {str(k): v for k, v in TYPE_NAMES.items()},
        "status_names": {str(k): v for k, v in STATUS_NAMES.items()},
        **values,
    }


def moves_of(
    request: Request, actor: Actor, now: datetime
) -> Callable[[AppointmentOut], dict[str, datetime | None]]:
    """For the action buttons: the moves the service allows ``actor`` now on an appointment, or
    when they open (``lifecycle.allowed_moves``: the rules ``lifecycle.act`` refuses by)."""
    settings: Settings = request.app.state.runtime.settings
    return lambda appointment: lifecycle.allowed_moves(settings, actor, appointment, now)


def by_local_day(
    items: Iterable[Any], zone: str, at: str = "starts_at"
) -> list[tuple[date, list[Any]]]:
    """Items (in time order) grouped by the local date of their ``at`` instant."""
    days: dict[date, list[Any]] = {}
    for item in items:
        days.setdefault(local(getattr(item, at), zone).date(), []).append(item)
    return list(days.items())


async def all_appointments(
    db: Session, actor: Actor, start: datetime | None, end: datetime | None, most: int = 500
) -> list[AppointmentOut]:
    found: list[AppointmentOut] = []
    cursor: str | None = None
    while len(found) < most:
        page = await service.list_appointments(
            db, actor, status=None, start=start, end=end, cursor=cursor, limit=MAX_PAGE_SIZE
        )
        found += page.items
        cursor = page.next_cursor
        if cursor is None:
            break
    return found


def status_of(exc: Exception) -> int:
    """The status of the page that shows a refused form again."""
    return exc.status if isinstance(exc, CareBridgeError) else 422
