"""Demo schedules: every demo doctor opens weekday hours in their own time zone (09:00-12:00
and 13:00-17:00), with video calls of 30 minutes, clinic visits of 45 plus 15 to turn the room
around, and chats of 15, so booking works right after ``make run``.

Idempotent: a doctor who already has a schedule (their own edits included) is left alone.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import Role, User, UserStatus
from carebridge.config import Settings
from carebridge.directory.demo import DOMAIN
from carebridge.directory.models import DoctorProfile
from carebridge.scheduling import schedules
from carebridge.scheduling.models import Schedule
from carebridge.scheduling.schemas import ScheduleIn

WINDOWS = [("09:00", "12:00"), ("13:00", "17:00")]
TYPES = [("video", 30, 0), ("in_person", 45, 15), ("chat", 15, 0)]


def demo_schedule(time_zone: str) -> ScheduleIn:
    return ScheduleIn.model_validate(
        {
            "time_zone": time_zone,
            "booking_horizon_days": 60,
            "min_notice_minutes": 60,
            "windows": [
                {"weekday": day, "starts": starts, "ends": ends}
                for day in range(5)
                for starts, ends in WINDOWS
            ],
            "types": [
                {"type": kind, "duration_minutes": minutes, "buffer_minutes": buffer}
                for kind, minutes, buffer in TYPES
            ],
        }
    )


async def seed_demo(db: AsyncSession, settings: Settings) -> int:
    doctors = await db.execute(
        select(User.id, User.status, DoctorProfile.time_zone)
        .join(DoctorProfile, DoctorProfile.user_id == User.id)
        .outerjoin(Schedule, Schedule.doctor_id == User.id)
        .where(
            User.role == Role.doctor,
            User.email.endswith(f"@{DOMAIN}"),
            Schedule.doctor_id.is_(None),
        )
        .order_by(User.email)
    )
    created = 0
    for doctor_id, status, time_zone in doctors.all():
        # put_schedule reads only who the doctor is: a stand-in actor without a session.
        actor = Actor(doctor_id, Role.doctor, UserStatus(status), uuid.uuid4())
        await schedules.put_schedule(db, actor, demo_schedule(time_zone or "UTC"))
        created += 1
    return created


def describe() -> str:
    return (
        "every demo doctor takes bookings on weekdays 09:00-12:00 and 13:00-17:00 in their "
        "time zone (video 30 min, clinic 45 + 15, chat 15)"
    )
