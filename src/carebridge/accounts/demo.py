"""Demo accounts for trying CareBridge on a laptop (`make run`, `carebridge seed --demo`).

Never in production: the CLI refuses. Idempotent: accounts that exist are left as they are.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.models import Role, User, UserStatus
from carebridge.config import Settings
from carebridge.platform.passwords import hash_password

DEMO_PASSWORD = "carebridge-demo-orchard-42"  # noqa: S105 - demo data; refused in production

DEMO_USERS = (
    ("admin@demo.example.org", "Avery Admin", Role.admin),
    ("dr.rivera@demo.example.org", "Dr. Sofia Rivera", Role.doctor),
    ("dr.chen@demo.example.org", "Dr. Wei Chen", Role.doctor),
    ("nurse.okafor@demo.example.org", "Nurse Ada Okafor", Role.nurse),
    ("patient@demo.example.org", "Pat Jordan", Role.patient),
)


async def seed_demo(db: AsyncSession, settings: Settings) -> int:
    existing = set((await db.scalars(select(User.email))).all())
    password_hash = hash_password(DEMO_PASSWORD, cost=settings.password_hash_cost)
    now = datetime.now(UTC)
    created = 0
    for email, name, role in DEMO_USERS:
        if email in existing:
            continue
        db.add(
            User(
                email=email,
                name=name,
                role=role,
                status=UserStatus.active,
                password_hash=password_hash,
                email_verified_at=now,
                approved_at=now if role != Role.patient else None,
                time_zone="Europe/Berlin" if role != Role.patient else "America/New_York",
            )
        )
        created += 1
    await db.flush()
    return created


def describe() -> str:
    emails = ", ".join(email for email, _, _ in DEMO_USERS)
    return f"demo accounts ({emails}) use the password {DEMO_PASSWORD}"
