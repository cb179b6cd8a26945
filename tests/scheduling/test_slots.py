"""Open slots across daylight-saving changes: wall-clock windows stay at the same local time."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
import time_machine

from carebridge.accounts.models import Role
from carebridge.scheduling.slots import Rules, open_slots
from tests.factories import MakeUser

BERLIN = ZoneInfo("Europe/Berlin")
SUNDAY_MORNINGS = Rules(
    time_zone="Europe/Berlin",
    windows=[(6, time(9), time(10))],
    duration=timedelta(minutes=30),
    buffer=timedelta(0),
    min_notice=timedelta(0),
    horizon=timedelta(days=366),
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("before", "switch", "after", "hours_before", "hours_on"),
    [
        # Last Sunday of March 2027: CET (UTC+1) becomes CEST (UTC+2) at 02:00.
        (date(2027, 3, 21), date(2027, 3, 28), date(2027, 4, 4), 8, 7),
        # Last Sunday of October 2027: CEST becomes CET at 03:00.
        (date(2027, 10, 24), date(2027, 10, 31), date(2027, 11, 7), 7, 8),
    ],
)
def test_nine_oclock_stays_nine_oclock(
    before: date, switch: date, after: date, hours_before: int, hours_on: int
) -> None:
    found = open_slots(
        SUNDAY_MORNINGS,
        utc(before.year, before.month, before.day),
        utc(after.year, after.month, after.day, 23),
        now=utc(2027, 1, 1),
    )
    by_day = {s.astimezone(BERLIN).date(): s for s, _ in found if s.astimezone(BERLIN).minute == 0}
    assert set(by_day) == {before, switch, after}
    for start in by_day.values():
        assert start.astimezone(BERLIN).time() == time(9, 0)
    assert by_day[before].hour == hours_before
    assert by_day[switch].hour == hours_on
    assert by_day[after].hour == hours_on
    assert len(found) == 6  # two 30-minute slots each Sunday


def test_a_window_across_the_switch_lasts_its_real_time() -> None:
    night = Rules(
        time_zone="Europe/Berlin",
        windows=[(6, time(1), time(4))],
        duration=timedelta(minutes=60),
        buffer=timedelta(0),
        min_notice=timedelta(0),
        horizon=timedelta(days=366),
    )
    found = open_slots(night, utc(2027, 3, 27), utc(2027, 3, 29), now=utc(2027, 1, 1))
    # 01:00-04:00 local on the night of the change is two real hours (00:00-02:00 UTC).
    assert [(s.hour, e.hour) for s, e in found] == [(0, 1), (1, 2)]


def test_notice_horizon_and_busy() -> None:
    rules = Rules(
        time_zone="UTC",
        windows=[(d, time(9), time(12)) for d in range(7)],
        duration=timedelta(minutes=60),
        buffer=timedelta(minutes=0),
        min_notice=timedelta(hours=2),
        horizon=timedelta(days=2),
    )
    now = utc(2027, 5, 3, 8)
    found = open_slots(
        rules,
        utc(2027, 5, 3),
        utc(2027, 5, 10),
        now=now,
        busy=[(utc(2027, 5, 4, 10), utc(2027, 5, 4, 11))],
    )
    starts = [s for s, _ in found]
    assert utc(2027, 5, 3, 9) not in starts  # inside the 2-hour notice
    assert utc(2027, 5, 3, 10) in starts
    assert utc(2027, 5, 4, 10) not in starts  # booked
    assert max(starts) < now + timedelta(days=2)


async def test_the_api_answers_berlin_slots_in_utc_across_the_march_switch(
    client: httpx.AsyncClient, scheduled_doctor, token_for, make_user: MakeUser
) -> None:
    with time_machine.travel(datetime(2027, 3, 10, 12, tzinfo=UTC), tick=True):
        doctor, _ = await scheduled_doctor(
            windows=[{"weekday": 6, "starts": "09:00", "ends": "10:00"}]
        )
        patient = await token_for(await make_user(Role.patient))
        answer = await client.get(
            f"/api/v1/doctors/{doctor.id}/slots",
            params={"type": "video", "from": "2027-03-20T00:00:00Z", "to": "2027-03-30T00:00:00Z"},
            headers=patient,
        )
        assert answer.status_code == 200, answer.text
        starts = [s["starts_at"] for s in answer.json()["slots"]]
        assert starts == [
            "2027-03-21T08:00:00Z",
            "2027-03-21T08:30:00Z",
            "2027-03-28T07:00:00Z",
            "2027-03-28T07:30:00Z",
        ]
