"""The demo's video consultation: after seeding, the demo patient and doctor can join its call
within minutes; a second run books nothing more."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import time_machine
from sqlalchemy import select

from carebridge.accounts.models import User
from carebridge.config import Settings
from carebridge.platform.db import Database
from carebridge.scheduling.models import Appointment
from carebridge.seed import seed_demo
from carebridge.video import demo
from tests.factories.users import TokenFor


async def test_the_demo_pair_can_try_a_call(
    client: httpx.AsyncClient, database: Database, settings: Settings, token_for: TokenFor
) -> None:
    # One, unless the demo was loaded in this database already (other tests' servers).
    first = await seed_demo(database, settings)
    assert first["video"] in (0, 1)
    assert (await seed_demo(database, settings))["video"] == 0  # idempotent
    async with database.sessionmaker() as db:
        people = {
            u.email: u
            for u in await db.scalars(
                select(User).where(User.email.in_([demo.DOCTOR, demo.PATIENT]))
            )
        }
        appointment = await db.scalar(
            select(Appointment)
            .where(
                Appointment.patient_id == people[demo.PATIENT].id,
                Appointment.doctor_id == people[demo.DOCTOR].id,
                Appointment.status == "scheduled",
            )
            .order_by(Appointment.starts_at.desc())
            .limit(1)
        )
    assert appointment is not None
    assert appointment.starts_at - datetime.now(appointment.starts_at.tzinfo) <= timedelta(
        minutes=15
    )
    url = f"/api/v1/appointments/{appointment.id}/call/join"
    with time_machine.travel(appointment.starts_at - timedelta(minutes=5), tick=True):
        doctor = await client.post(url, headers=await token_for(people[demo.DOCTOR]))
        patient = await client.post(url, headers=await token_for(people[demo.PATIENT]))
    assert (doctor.status_code, patient.status_code) == (200, 200), patient.text
    assert patient.json()["participant"]["state"] == "waiting"
    conversations = await client.get(
        "/api/v1/conversations", headers=await token_for(people[demo.PATIENT])
    )
    assert str(appointment.id) in conversations.text
