"""The ranges of the doctor's calendar page, named by its address."""

from __future__ import annotations

from datetime import date

import pytest

from carebridge.platform.errors import Invalid
from carebridge.web.calendar_range import calendar_range

TODAY = date(2026, 12, 10)  # a Thursday


def test_without_an_address_it_is_this_week_and_the_next() -> None:
    shown = calendar_range(TODAY, None, None)
    assert [(s.title, s.first, s.last) for s in shown.sections] == [
        ("This week", date(2026, 12, 7), date(2026, 12, 13)),
        ("Next week", date(2026, 12, 14), date(2026, 12, 20)),
    ]
    assert shown.links["previous"][0] == "/doctor/appointments?week=2026-11-30"
    assert shown.links["next"][0] == "/doctor/appointments?week=2026-12-14"
    assert shown.links["other"][0] == "/doctor/appointments?month=2026-12"


def test_any_day_names_its_week_and_a_month_its_days() -> None:
    week = calendar_range(TODAY, "2027-01-06", None)
    assert week.first == date(2027, 1, 4)
    assert week.sections[0].title == "Week of 4 January 2027"
    month = calendar_range(TODAY, None, "2026-12")
    assert [(s.title, s.first, s.last) for s in month.sections] == [
        ("December 2026", date(2026, 12, 1), date(2026, 12, 31))
    ]
    assert month.links["previous"] == ("/doctor/appointments?month=2026-11", "← November")
    assert month.links["next"] == ("/doctor/appointments?month=2027-01", "January →")
    assert calendar_range(TODAY, None, "2199-12").end == date(2200, 1, 1)


@pytest.mark.parametrize(
    ("week", "month"),
    [("not-a-day", None), ("0001-01-01", None), (None, "2026-13"), (None, "2200-01")],
)
def test_an_address_that_names_no_range_is_refused(week: str | None, month: str | None) -> None:
    with pytest.raises(Invalid):
        calendar_range(TODAY, week, month)
