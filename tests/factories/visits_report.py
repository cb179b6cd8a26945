"""A home visit brought to completion through the API, with the people who write and review its
report (for the tests that walk every sealed column, or any other that starts from a report)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

from carebridge.accounts.models import Role
from carebridge.platform.db import Database
from tests.factories.users import Headers, MakeUser, TokenFor
from tests.factories.visits import on_roster, visit_body


@dataclass
class Reporting:
    visit_id: uuid.UUID
    url: str  # the report's
    nurse: Headers
    doctor: Headers  # any doctor: the report waits in the queue once submitted


async def completed_visit(
    client: httpx.AsyncClient, database: Database, make_user: MakeUser, token_for: TokenFor
) -> Reporting:
    """A patient's request, assigned by a dispatcher, walked by its nurse to ``completed``."""
    patient, nurse, admin, doctor = [
        await make_user(role) for role in (Role.patient, Role.nurse, Role.admin, Role.doctor)
    ]
    await on_roster(database, nurse)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    body = visit_body(
        window_start=start.isoformat(), window_end=(start + timedelta(hours=2)).isoformat()
    )
    made = await client.post("/api/v1/visits", json=body, headers=await token_for(patient))
    assert made.status_code == 201, made.text
    url = f"/api/v1/visits/{made.json()['id']}"
    assigned = await client.post(
        f"{url}/assign", json={"nurse_id": str(nurse.id)}, headers=await token_for(admin)
    )
    assert assigned.status_code == 200, assigned.text
    nurse_headers = await token_for(nurse)
    for step in ("accepted", "en_route", "arrived", "in_progress", "completed"):
        moved = await client.post(f"{url}/transitions", json={"to": step}, headers=nurse_headers)
        assert moved.status_code == 200, (step, moved.text)
    return Reporting(
        uuid.UUID(made.json()["id"]), f"{url}/report", nurse_headers, await token_for(doctor)
    )
