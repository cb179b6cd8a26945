"""Which appointments hold a doctor's time: the slot list, booking and rescheduling agree.

An unpaid hold whose time has lapsed, but that the sweep has not released yet, holds nothing: the
slot list shows its slot free, and booking or moving onto it succeeds (the hold is released on
the way). A live hold blocks all three."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import update

from carebridge.accounts.models import Role
from carebridge.platform.db import Database
from carebridge.scheduling.models import Appointment
from tests.factories import MakeUser
from tests.factories.scheduling import at, book, next_weekday, slots


async def _hold(database: Database, appointment_id: str, expires_in: timedelta) -> None:
    """Make a booking an unpaid hold, as online payment books it, lapsing ``expires_in`` from
    now (negative: already lapsed)."""
    async with database.transaction() as db:
        await db.execute(
            update(Appointment)
            .where(Appointment.id == uuid.UUID(appointment_id))
            .values(
                status="pending_payment",
                hold_expires_at=datetime.now(UTC) + expires_in,
                confirmed_at=None,
            )
        )


def _starts(answer: dict[str, object]) -> set[datetime]:
    listed = answer["slots"]
    assert isinstance(listed, list)
    return {datetime.fromisoformat(s["starts_at"]) for s in listed}


async def _world(client, scheduled_doctor, token_for, make_user: MakeUser, database, lapsed: bool):  # type: ignore[no-untyped-def]
    """A doctor, a hold at 10:00 (lapsed or live), a patient booking and one who moves from
    14:00."""
    doctor, _ = await scheduled_doctor()
    holder, booker, mover = [await token_for(await make_user(Role.patient)) for _ in range(3)]
    day = next_weekday(2, weeks_ahead=2)
    moving = await book(client, mover, doctor.id, at(day, 14))
    assert moving.status_code == 201, moving.text
    held = await book(client, holder, doctor.id, at(day, 10))
    assert held.status_code == 201, held.text
    # Made a hold last: a booking releases the doctor's lapsed holds first.
    await _hold(
        database, held.json()["id"], -timedelta(minutes=1) if lapsed else timedelta(hours=1)
    )
    return doctor, day, held.json()["id"], booker, mover, moving.json()["id"]


async def test_a_lapsed_hold_is_free_in_the_slot_list_and_to_book(
    client: httpx.AsyncClient, database: Database, scheduled_doctor, token_for, make_user: MakeUser
) -> None:
    doctor, day, held, booker, _, _ = await _world(
        client, scheduled_doctor, token_for, make_user, database, lapsed=True
    )
    ten = datetime.fromisoformat(at(day, 10))
    assert ten in _starts(await slots(client, doctor.id, booker, day=day))
    booked = await book(client, booker, doctor.id, at(day, 10))
    assert booked.status_code == 201, booked.text
    async with database.transaction() as db:
        released = await db.get(Appointment, uuid.UUID(held))
        assert released is not None
        assert released.status == "cancelled"
    assert ten not in _starts(await slots(client, doctor.id, booker, day=day))


async def test_a_lapsed_hold_is_free_to_move_onto(
    client: httpx.AsyncClient, database: Database, scheduled_doctor, token_for, make_user: MakeUser
) -> None:
    _, day, held, _, mover, moving = await _world(
        client, scheduled_doctor, token_for, make_user, database, lapsed=True
    )
    moved = await client.post(
        f"/api/v1/appointments/{moving}/reschedule",
        json={"starts_at": at(day, 10)},
        headers=mover,
    )
    assert moved.status_code == 200, moved.text
    assert datetime.fromisoformat(moved.json()["starts_at"]) == datetime.fromisoformat(at(day, 10))
    async with database.transaction() as db:
        released = await db.get(Appointment, uuid.UUID(held))
        assert released is not None
        assert released.status == "cancelled"


async def test_a_live_hold_blocks_the_slot_list_booking_and_moving(
    client: httpx.AsyncClient, database: Database, scheduled_doctor, token_for, make_user: MakeUser
) -> None:
    doctor, day, held, booker, mover, moving = await _world(
        client, scheduled_doctor, token_for, make_user, database, lapsed=False
    )
    assert datetime.fromisoformat(at(day, 10)) not in _starts(
        await slots(client, doctor.id, booker, day=day)
    )
    taken = await book(client, booker, doctor.id, at(day, 10))
    assert taken.status_code == 409
    assert taken.json()["code"] == "slot_taken"
    refused = await client.post(
        f"/api/v1/appointments/{moving}/reschedule",
        json={"starts_at": at(day, 10)},
        headers=mover,
    )
    assert refused.status_code == 409
    assert refused.json()["code"] == "slot_taken"
    async with database.transaction() as db:
        still = await db.get(Appointment, uuid.UUID(held))
        assert still is not None
        assert still.status == "pending_payment"
