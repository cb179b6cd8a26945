"""Dose reminders (``records.tasks``) with the clock moved: at the patient's local times, across
daylight-saving changes in two time zones, once per slot, also when the patient moves."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select, update

from carebridge.accounts.models import Role, User
from carebridge.notifications.models import Notification
from carebridge.platform.db import Database
from carebridge.platform.jobs import job_app
from carebridge.platform.registry import TASK_MODULES
from carebridge.records.kinds import MEDICATION_DUE
from carebridge.records.models import MedicationDose
from carebridge.records.tasks import CATCH_UP, send_dose_reminders
from tests.factories.users import MakeUser, TokenFor

MINUTE = timedelta(minutes=1)


@dataclass
class Patient:
    user: User
    headers: dict[str, str]
    medication_id: str


@dataclass(frozen=True)
class Reminded:
    """A reminder as the patient sees it: which slot, and the local time it arrived."""

    local_date: str
    local_time: str
    at: str  # the run's instant, in the patient's zone, "YYYY-MM-DD HH:MM TZ"


async def patient_in(
    client: httpx.AsyncClient,
    database: Database,
    make_user: MakeUser,
    token_for: TokenFor,
    zone: str,
    times: list[str],
    **extra: object,
) -> Patient:
    user = await make_user(Role.patient)
    async with database.transaction() as db:
        await db.execute(update(User).where(User.id == user.id).values(time_zone=zone))
    headers = await token_for(user)
    body = {"name": "Levothyroxine 50 µg", "times": times, "starts_on": "2026-01-01", **extra}
    added = await client.post("/api/v1/records/medications", json=body, headers=headers)
    assert added.status_code == 201, added.text
    return Patient(user, headers, added.json()["id"])


async def run_at(
    database: Database, instants: Iterator[datetime], zone: str, patient: Patient
) -> list[Reminded]:
    """Run the task at each instant; the reminders the patient got, with when they came."""
    got: list[Reminded] = []
    seen: set[uuid.UUID] = set()
    for now in instants:
        await send_dose_reminders(database, now)
        async with database.transaction() as db:
            rows = (
                await db.scalars(
                    select(Notification).where(
                        Notification.recipient_id == patient.user.id,
                        Notification.kind == MEDICATION_DUE.name,
                    )
                )
            ).all()
        for row in rows:
            if row.id not in seen:
                seen.add(row.id)
                local = now.astimezone(ZoneInfo(zone))
                got.append(
                    Reminded(
                        row.data["local_date"],
                        row.data["local_time"],
                        local.strftime("%Y-%m-%d %H:%M %Z"),
                    )
                )
    return got


def minutes(zone: str, day: date, start: time, end: time) -> Iterator[datetime]:
    """Every minute (in UTC, so a repeated hour is walked twice) from ``start`` to ``end``
    local on ``day``."""
    at = datetime.combine(day, start, tzinfo=ZoneInfo(zone)).astimezone(UTC)
    last = datetime.combine(day, end, tzinfo=ZoneInfo(zone)).astimezone(UTC)
    while at <= last:
        yield at
        at += MINUTE


def around_the_change(zone: str, day: date) -> Iterator[datetime]:
    """The night of the change (00:00 to 04:30 local) and 07:50 to 08:10 of the day before and
    of the day itself, minute by minute."""
    yield from minutes(zone, day - timedelta(days=1), time(7, 50), time(8, 10))
    yield from minutes(zone, day, time(0, 0), time(4, 30))
    yield from minutes(zone, day, time(7, 50), time(8, 10))


# (zone, the day of the change, what the patient gets: slot -> local time it comes at)
CHANGES = {
    "Europe/Berlin spring": (
        "Europe/Berlin",
        date(2026, 3, 29),  # 02:00 CET -> 03:00 CEST: 02:30 does not exist
        {
            ("2026-03-28", "08:00"): "2026-03-28 08:00 CET",
            ("2026-03-29", "01:30"): "2026-03-29 01:30 CET",
            ("2026-03-29", "02:30"): "2026-03-29 03:30 CEST",  # shifted by the gap, once
            ("2026-03-29", "08:00"): "2026-03-29 08:00 CEST",
        },
    ),
    "Europe/Berlin autumn": (
        "Europe/Berlin",
        date(2026, 10, 25),  # 03:00 CEST -> 02:00 CET: 02:30 happens twice
        {
            ("2026-10-24", "08:00"): "2026-10-24 08:00 CEST",
            ("2026-10-25", "01:30"): "2026-10-25 01:30 CEST",
            ("2026-10-25", "02:30"): "2026-10-25 02:30 CEST",  # the first one only
            ("2026-10-25", "08:00"): "2026-10-25 08:00 CET",
        },
    ),
    "America/New_York spring": (
        "America/New_York",
        date(2026, 3, 8),  # 02:00 EST -> 03:00 EDT
        {
            ("2026-03-07", "08:00"): "2026-03-07 08:00 EST",
            ("2026-03-08", "01:30"): "2026-03-08 01:30 EST",
            ("2026-03-08", "02:30"): "2026-03-08 03:30 EDT",
            ("2026-03-08", "08:00"): "2026-03-08 08:00 EDT",
        },
    ),
    "America/New_York autumn": (
        "America/New_York",
        date(2026, 11, 1),  # 02:00 EDT -> 01:00 EST: 01:30 happens twice
        {
            ("2026-10-31", "08:00"): "2026-10-31 08:00 EDT",
            ("2026-11-01", "01:30"): "2026-11-01 01:30 EDT",  # the first one only
            ("2026-11-01", "02:30"): "2026-11-01 02:30 EST",
            ("2026-11-01", "08:00"): "2026-11-01 08:00 EST",
        },
    ),
}


@pytest.mark.parametrize("change", list(CHANGES))
async def test_reminders_across_a_dst_change_in_two_time_zones_fire_at_the_right_local_times_once(
    change: str,
    client: httpx.AsyncClient,
    database: Database,
    make_user: MakeUser,
    token_for: TokenFor,
) -> None:
    zone, day, expected = CHANGES[change]
    patient = await patient_in(
        client, database, make_user, token_for, zone, ["01:30", "02:30", "08:00"]
    )
    # Someone in the other zone, reminded at their own times (not the patient's).
    other_zone = "America/New_York" if zone == "Europe/Berlin" else "Europe/Berlin"
    other = await patient_in(client, database, make_user, token_for, other_zone, ["08:00"])

    got = await run_at(database, around_the_change(zone, day), zone, patient)

    assert {(r.local_date, r.local_time): r.at for r in got} == expected
    assert len(got) == len(expected)  # each slot once, the repeated hour walked twice included
    async with database.transaction() as db:
        doses = (
            await db.scalars(
                select(MedicationDose).where(MedicationDose.patient_id == patient.user.id)
            )
        ).all()
        assert {(d.local_date.isoformat(), f"{d.local_time:%H:%M}") for d in doses} == set(expected)
        assert all(d.status == "due" and d.reminded_at == d.due_at for d in doses)
        others = await db.scalars(
            select(Notification.data).where(Notification.recipient_id == other.user.id)
        )
        assert all(data["local_time"] == "08:00" for data in others)


async def test_a_patient_who_changes_time_zone_is_not_reminded_twice_for_one_slot(
    client: httpx.AsyncClient, database: Database, make_user: MakeUser, token_for: TokenFor
) -> None:
    patient = await patient_in(client, database, make_user, token_for, "Europe/Berlin", ["08:00"])
    berlin_eight = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)  # 08:00 CET
    got = await run_at(database, iter([berlin_eight]), "Europe/Berlin", patient)
    assert got == [Reminded("2026-12-07", "08:00", "2026-12-07 08:00 CET")]

    # They fly to New York: 08:00 of the same day comes again there, six hours later.
    async with database.transaction() as db:
        await db.execute(
            update(User).where(User.id == patient.user.id).values(time_zone="America/New_York")
        )
    new_york_eight = datetime(2026, 12, 7, 13, 0, tzinfo=UTC)  # 08:00 EST
    later = [new_york_eight, new_york_eight + MINUTE]
    assert await run_at(database, iter(later), "America/New_York", patient) == [
        Reminded("2026-12-07", "08:00", "2026-12-07 08:00 EST")  # the Berlin one, seen again
    ]
    async with database.transaction() as db:
        count = len(
            (
                await db.scalars(
                    select(Notification.id).where(
                        Notification.recipient_id == patient.user.id,
                        Notification.kind == MEDICATION_DUE.name,
                    )
                )
            ).all()
        )
    assert count == 1
    # The next day in New York: reminded at 08:00 EST.
    next_day = datetime(2026, 12, 8, 13, 0, tzinfo=UTC)
    assert await send_dose_reminders(database, next_day) == 1


async def test_a_worker_down_for_a_few_minutes_still_reminds_but_not_a_day_old_slot(
    client: httpx.AsyncClient, database: Database, make_user: MakeUser, token_for: TokenFor
) -> None:
    patient = await patient_in(client, database, make_user, token_for, "UTC", ["08:00", "20:00"])
    eight = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    assert await send_dose_reminders(database, eight + CATCH_UP - MINUTE) == 1  # late, sent
    assert await send_dose_reminders(database, eight + CATCH_UP) == 0  # sent already
    # A worker back after a day: yesterday's 20:00 and today's 08:00 are too old.
    assert await send_dose_reminders(database, eight + timedelta(hours=13)) == 0
    assert await send_dose_reminders(database, eight + timedelta(days=1, minutes=20)) == 0
    async with database.transaction() as db:
        doses = (
            await db.scalars(
                select(MedicationDose).where(MedicationDose.patient_id == patient.user.id)
            )
        ).all()
    assert [(d.local_date, d.local_time) for d in doses] == [(date(2026, 12, 7), time(8))]


async def test_no_reminder_for_a_dose_marked_already_reminders_off_or_a_stopped_medication(
    client: httpx.AsyncClient, database: Database, make_user: MakeUser, token_for: TokenFor
) -> None:
    marked = await patient_in(client, database, make_user, token_for, "UTC", ["00:01"])
    quiet = await patient_in(
        client, database, make_user, token_for, "UTC", ["00:01"], reminders=False
    )
    stopped = await patient_in(client, database, make_user, token_for, "UTC", ["00:01"])
    today = datetime.now(UTC).date()
    taken = await client.post(
        f"/api/v1/records/medications/{marked.medication_id}/doses",
        json={"local_date": today.isoformat(), "local_time": "00:01", "status": "taken"},
        headers=marked.headers,
    )
    assert taken.status_code == 200, taken.text
    stop = await client.post(
        f"/api/v1/records/medications/{stopped.medication_id}/stop", headers=stopped.headers
    )
    assert stop.status_code == 200, stop.text
    at = datetime.combine(today, time(0, 1), tzinfo=UTC)
    assert await send_dose_reminders(database, at) == 0
    async with database.transaction() as db:
        dose = await db.scalar(
            select(MedicationDose).where(MedicationDose.patient_id == marked.user.id)
        )
    assert dose is not None
    assert (dose.status, dose.reminded_at) == ("taken", None)
    async with database.transaction() as db:
        told = await db.scalars(
            select(Notification.recipient_id).where(Notification.kind == MEDICATION_DUE.name)
        )
        assert not {marked.user.id, quiet.user.id, stopped.user.id} & set(told)


def test_the_reminder_task_runs_every_minute_without_a_lock() -> None:
    """A minutely job, safe to run twice: not one of tests/test_locked_jobs.py's locked tasks."""
    assert "carebridge.records.tasks" in TASK_MODULES
    task = job_app.tasks["records.send_dose_reminders"]
    assert (task.lock, task.queueing_lock) == (None, None)
    periodic = [p for p in job_app.periodic_registry.periodic_tasks.values() if p.task is task]
    assert [p.cron for p in periodic] == ["* * * * *"]
