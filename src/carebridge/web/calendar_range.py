"""What the doctor's calendar page shows, named by its address: two weeks from a Monday
(``?week=2026-12-07``, the default being this week and the next) or a month (``?month=2026-12``),
with the addresses of the ranges before and after it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal
from urllib.parse import urlencode

from carebridge.platform.errors import Invalid
from carebridge.platform.inputs import check_day

WEEKS_SHOWN = 2


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _month_after(first: date) -> date:
    return (first + timedelta(days=32)).replace(day=1)


def _month_before(first: date) -> date:
    return (first - timedelta(days=1)).replace(day=1)


@dataclass(frozen=True)
class Section:
    title: str
    first: date
    last: date  # inclusive


@dataclass(frozen=True)
class CalendarRange:
    view: Literal["weeks", "month"]
    first: date  # a Monday, or the first of the month
    today: date  # in the doctor's zone

    @property
    def end(self) -> date:
        """The day after the last day shown."""
        if self.view == "month":
            return _month_after(self.first)
        return self.first + timedelta(weeks=WEEKS_SHOWN)

    @property
    def sections(self) -> list[Section]:
        if self.view == "month":
            title = f"{self.first.strftime('%B')} {self.first.year}"
            return [Section(title, self.first, self.end - timedelta(days=1))]
        weeks = [self.first + timedelta(weeks=n) for n in range(WEEKS_SHOWN)]
        return [Section(self._week_title(m), m, m + timedelta(days=6)) for m in weeks]

    def _week_title(self, monday: date) -> str:
        away = (monday - _monday(self.today)).days // 7
        relative = {-1: "Last week", 0: "This week", 1: "Next week"}
        year = f" {monday.year}" if monday.year != self.today.year else ""
        return relative.get(away, f"Week of {monday.day} {monday.strftime('%B')}{year}")

    def _address(self, **query: str) -> str:
        return f"/doctor/appointments?{urlencode(query)}"

    @property
    def links(self) -> dict[str, tuple[str, str]]:
        """``previous``, ``current``, ``next`` and ``other`` (the other view): address, label."""
        if self.view == "month":
            before, after = _month_before(self.first), _month_after(self.first)
            return {
                "previous": (self._address(month=f"{before:%Y-%m}"), f"← {before:%B}"),
                "current": (self._address(month=f"{self.today:%Y-%m}"), "This month"),
                "next": (self._address(month=f"{after:%Y-%m}"), f"{after:%B} →"),
                "other": (self._address(week=self.first.isoformat()), "Weeks"),
            }
        return {
            "previous": (
                self._address(week=(self.first - timedelta(weeks=1)).isoformat()),
                "← Previous week",
            ),
            "current": ("/doctor/appointments", "This week"),
            "next": (
                self._address(week=(self.first + timedelta(weeks=1)).isoformat()),
                "Next week →",
            ),
            "other": (self._address(month=f"{self.first:%Y-%m}"), "Month"),
        }


def calendar_range(today: date, week: str | None, month: str | None) -> CalendarRange:
    """The range an address names; Invalid when it names none (the page then shows this week)."""
    try:
        if month:
            first = check_day(date.fromisoformat(f"{month}-01"))
            return CalendarRange("month", first, today)
        if week:
            return CalendarRange("weeks", _monday(check_day(date.fromisoformat(week))), today)
    except ValueError as exc:
        raise Invalid(
            "That is no week or month of the calendar: here is this week.", code="bad_range"
        ) from exc
    return CalendarRange("weeks", _monday(today), today)
