"""A small clinic for the page-level browser tests (the ``world`` fixture of conftest.py): one
person of every role (and a doctor still waiting for verification) and appointments between the
patient and the doctor around now, committed for the live server and removed afterwards.
Browsers get a signed-in session cookie without the sign-in form (it has tests of its own)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from playwright.async_api import Browser, Page, ViewportSize
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import Role, User, UserStatus
from carebridge.config import Settings
from carebridge.directory.models import DoctorProfile
from carebridge.platform.context import CallScope
from carebridge.platform.db import Database
from carebridge.scheduling import schedules
from carebridge.scheduling.models import Appointment
from carebridge.scheduling.schemas import ScheduleIn
from carebridge.web.session import SESSION_COOKIE, start_web_session
from tests.factories import PASSWORD_HASH

PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}


def midday_zone(now: datetime) -> str:
    """A time zone (``Etc/GMT±N``) where it is now between 10:00 and 14:00, so that an hour
    before and after now are both today there, whenever the tests run."""
    for offset in range(-12, 15):
        zone = f"Etc/GMT{-offset:+d}" if offset else "Etc/UTC"  # Etc/GMT-3 is UTC+3
        if 10 <= now.astimezone(ZoneInfo(zone)).hour < 14:
            return zone
    raise AssertionError("some offset from -12 to +14 is always midday")


@dataclass
class World:
    patient: User
    doctor: User
    pending_doctor: User
    nurse: User
    admin: User
    zone: str  # the doctor's and the patient's
    appointments: dict[str, Appointment]

    @property
    def people(self) -> dict[str, User]:
        return {
            "patient": self.patient,
            "doctor": self.doctor,
            "pending-doctor": self.pending_doctor,
            "nurse": self.nurse,
            "admin": self.admin,
        }


def new_user(tag: str, role: Role, name: str, zone: str, *, approved: bool = True) -> User:
    now = datetime.now(UTC)
    return User(
        email=f"{role}-{name.split()[-1].lower()}-{tag}@example.org",
        name=name,
        role=role,
        status=UserStatus.active if approved else UserStatus.pending,
        password_hash=PASSWORD_HASH,
        approved_at=now if approved and role in (Role.doctor, Role.nurse) else None,
        email_verified_at=now,
        time_zone=zone,
    )


def _appointment(
    doctor: User, patient: User, zone: str, starts_at: datetime, status: str, **values: object
) -> Appointment:
    ends_at = starts_at + timedelta(minutes=30)
    return Appointment(
        id=uuid.uuid4(),
        doctor_id=doctor.id,
        patient_id=patient.id,
        type="video",
        status=status,
        starts_at=starts_at,
        ends_at=ends_at,
        blocked_until=ends_at,
        time_zone=zone,
        fee=0,
        **values,
    )


def _appointments(doctor: User, patient: User, zone: str) -> dict[str, Appointment]:
    """Around now (midday in ``zone``): what a doctor's day and a patient's list hold."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    local_ten = now.astimezone(ZoneInfo(zone)).replace(hour=10, minute=0)
    return {
        # Completed early: the doctor finished before its end, which is still ahead.
        "done_early": _appointment(
            doctor, patient, zone, now - timedelta(minutes=20), "completed", completed_at=now
        ),
        "today": _appointment(doctor, patient, zone, now + timedelta(hours=1), "scheduled"),
        "cancelled": _appointment(
            doctor,
            patient,
            zone,
            now + timedelta(hours=1, minutes=30),
            "cancelled",
            cancelled_at=now,
            cancel_reason="The doctor is away.",
        ),
        "yesterday": _appointment(doctor, patient, zone, now - timedelta(days=1), "scheduled"),
        "held": _appointment(
            doctor,
            patient,
            zone,
            (local_ten + timedelta(days=1)).astimezone(UTC),
            "pending_payment",
            hold_expires_at=now + timedelta(minutes=15),
        ),
        "in_five_weeks": _appointment(
            doctor, patient, zone, (local_ten + timedelta(weeks=5)).astimezone(UTC), "scheduled"
        ),
    }


async def build_world(db: AsyncSession) -> World:
    tag = uuid.uuid4().hex[:6]
    zone = midday_zone(datetime.now(UTC))
    doctor = new_user(tag, Role.doctor, f"Dr. Amal World{tag}", zone)
    patient = new_user(tag, Role.patient, f"Pat Worldpatient{tag}", zone)
    pending = new_user(tag, Role.doctor, f"Dr. Ines Waiting{tag}", zone, approved=False)
    nurse = new_user(tag, Role.nurse, f"Nia Nurse{tag}", zone)
    admin = new_user(tag, Role.admin, f"Ada Admin{tag}", zone)
    db.add_all([doctor, patient, pending, nurse, admin])
    await db.flush()
    db.add(
        DoctorProfile(
            user_id=doctor.id,
            verified_at=datetime.now(UTC),
            license_number=f"LIC-{tag}",
            bio="Family doctor.",
            time_zone=zone,
        )
    )
    schedule = ScheduleIn.model_validate(
        {
            "time_zone": zone,
            "windows": [{"weekday": d, "starts": "08:00", "ends": "18:00"} for d in range(7)],
            "types": [{"type": "video", "duration_minutes": 30}],
        }
    )
    actor = Actor(doctor.id, Role.doctor, UserStatus.active, uuid.uuid4())
    await schedules.put_schedule(db, actor, schedule)
    appointments = _appointments(doctor, patient, zone)
    db.add_all(appointments.values())
    return World(patient, doctor, pending, nurse, admin, zone, appointments)


async def remove_world(db: AsyncSession, world: World) -> None:
    await db.execute(delete(Appointment).where(Appointment.doctor_id == world.doctor.id))
    await db.execute(delete(User).where(User.id.in_([p.id for p in world.people.values()])))


@asynccontextmanager
async def browsing(
    browser: Browser,
    server: str,
    settings: Settings,
    user: User | None,
    viewport: ViewportSize = PHONE,
    *,
    javascript: bool = True,
) -> AsyncIterator[Page]:
    """A page in a browser of its own for ``user`` (None: a visitor) with a live session
    cookie; the browser context is closed afterwards."""
    context = await browser.new_context(viewport=viewport, java_script_enabled=javascript)
    try:
        if user is not None:
            database = Database.from_settings(settings)
            try:
                async with database.transaction() as db:
                    token = await start_web_session(db, CallScope.system(settings), user)
            finally:
                await database.dispose()
            await context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": server}])
        yield await context.new_page()
    finally:
        await context.close()


class Browse(Protocol):
    """The ``browse`` fixture: ``async with browse(user, viewport) as page: ...``."""

    def __call__(
        self, user: User | None, viewport: ViewportSize = PHONE, *, javascript: bool = True
    ) -> AbstractAsyncContextManager[Page]: ...
