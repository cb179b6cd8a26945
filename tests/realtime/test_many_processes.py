"""Fan-out across processes through Redis: two ``carebridge serve`` processes on one database and
one Redis; a patient connected to A sees a doctor who goes online through B."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.asyncio.client import connect

from carebridge.accounts.models import Role, User, UserStatus
from carebridge.directory.models import DoctorProfile
from carebridge.platform.db import Database
from tests.factories import PASSWORD, PASSWORD_HASH
from tests.factories.realtime import next_frame, subscribe
from tests.factories.settings import TEST_SECRET
from tests.helpers import clean_env, running_servers

pytestmark = pytest.mark.redis


@pytest.fixture
async def people(engine: AsyncEngine) -> AsyncIterator[dict[str, str]]:
    database = Database(engine)
    emails = {
        "doctor": f"dr-{uuid.uuid4().hex[:8]}@clinic.example",
        "patient": f"pt-{uuid.uuid4().hex[:8]}@clinic.example",
    }
    now = datetime.now(UTC)
    async with database.transaction() as db:
        doctor = User(
            email=emails["doctor"],
            name="Dr. Across",
            role=Role.doctor,
            status=UserStatus.active,
            password_hash=PASSWORD_HASH,
            approved_at=now,
        )
        patient = User(
            email=emails["patient"],
            name="Pat Across",
            role=Role.patient,
            status=UserStatus.active,
            password_hash=PASSWORD_HASH,
        )
        db.add_all([doctor, patient])
        await db.flush()
        db.add(DoctorProfile(user_id=doctor.id, verified_at=now))
    emails["doctor_id"] = str(doctor.id)
    yield emails
    async with database.transaction() as db:
        await db.execute(delete(User).where(User.id.in_([doctor.id, patient.id])))


async def sign_in(base_url: str, email: str) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.post(
            "/api/v1/auth/login", json={"email": email, "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def test_a_status_change_in_one_process_reaches_sockets_of_another(
    database_url: str, people: dict[str, str], tmp_path: Path
) -> None:
    env = clean_env(
        CAREBRIDGE_ENVIRONMENT="test",
        CAREBRIDGE_DATABASE_URL=database_url,
        CAREBRIDGE_REDIS_URL=os.environ["CAREBRIDGE_REDIS_URL"],
        CAREBRIDGE_SECRET_KEY=TEST_SECRET,
        CAREBRIDGE_ENCRYPTION_KEY=TEST_SECRET,
        CAREBRIDGE_IN_PROCESS_WORKER="false",
        CAREBRIDGE_PASSWORD_HASH_COST="minimal",  # as the test users' hash (PASSWORD_HASH)
    )
    with running_servers(
        ({**env, "CAREBRIDGE_DATA_DIR": str(tmp_path / "a")}, tmp_path / "a.log"),
        ({**env, "CAREBRIDGE_DATA_DIR": str(tmp_path / "b")}, tmp_path / "b.log"),
    ) as (a, b):
        patient = await sign_in(a, people["patient"])
        doctor = await sign_in(b, people["doctor"])
        async with httpx.AsyncClient(base_url=a) as http:
            ticket = (await http.post("/api/v1/ws/ticket", headers=patient)).json()["ticket"]
        async with connect(a.replace("http", "ws") + f"/api/v1/ws?ticket={ticket}") as socket:
            await subscribe(socket, "doctors.presence")
            async with httpx.AsyncClient(base_url=b) as http:
                changed = await http.put(
                    "/api/v1/doctors/me/status", json={"status": "online"}, headers=doctor
                )
                assert changed.status_code == 200, changed.text
            frame = await next_frame(
                socket, lambda f: f.get("data", {}).get("doctor_id") == people["doctor_id"]
            )
        assert frame["data"]["status"] == "online"
        assert frame["seq"] == changed.json()["version"]
