"""Helpers of the real-time tests: the application served by a real uvicorn (websockets-sansio,
as ``carebridge serve`` runs it) in the test's event loop, real WebSocket clients, committed rows
(the fixtures that start it are in tests/realtime/conftest.py)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from sqlalchemy import delete, update
from websockets.asyncio.client import ClientConnection, connect

from carebridge.accounts.models import Role, User, UserStatus
from carebridge.app import create_app
from carebridge.cli import uvicorn_options
from carebridge.directory.models import DoctorProfile
from carebridge.platform.db import Database
from tests.factories.settings import make_settings
from tests.factories.users import PASSWORD, PASSWORD_HASH
from tests.helpers import free_port

FAST = {
    "realtime_ping_seconds": 0.3,
    "realtime_idle_timeout_seconds": 30,
    "realtime_slow_client_seconds": 0.2,
    "presence_offline_grace_seconds": 0.6,
}


@dataclass
class Member:
    user_id: uuid.UUID
    email: str
    headers: dict[str, str]
    session_id: uuid.UUID | None = None


@dataclass
class Live:
    """A running server, an HTTP client to it, and helpers to make people and open sockets."""

    url: str
    app: FastAPI
    http: httpx.AsyncClient
    made: list[uuid.UUID] = field(default_factory=list)

    @property
    def database(self) -> Database:
        database: Database = self.app.state.runtime.database
        return database

    async def member(self, role: Role = Role.patient, name: str = "Test person") -> Member:
        email = f"{role}-{uuid.uuid4().hex[:10]}@clinic.example"
        async with self.database.transaction() as db:
            user = User(
                email=email,
                name=name,
                role=role,
                status=UserStatus.active,
                password_hash=PASSWORD_HASH,
            )
            db.add(user)
        self.made.append(user.id)
        response = await self.http.post(
            "/api/v1/auth/login", json={"email": email, "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        token = response.json()["access_token"]
        return Member(user.id, email, {"Authorization": f"Bearer {token}"})

    async def doctor(self, name: str = "Dr. Test") -> Member:
        """An approved doctor with a verified directory profile (listed to patients)."""
        member = await self.member(Role.doctor, name)
        async with self.database.transaction() as db:
            await db.execute(
                update(User).where(User.id == member.user_id).values(approved_at=datetime.now(UTC))
            )
            db.add(DoctorProfile(user_id=member.user_id, verified_at=datetime.now(UTC)))
        return member

    async def set_status(self, doctor: Member, status: str) -> dict[str, Any]:
        response = await self.http.put(
            "/api/v1/doctors/me/status", json={"status": status}, headers=doctor.headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def ticket(self, member: Member) -> str:
        response = await self.http.post("/api/v1/ws/ticket", headers=member.headers)
        assert response.status_code == 201, response.text
        return str(response.json()["ticket"])

    def socket(self, ticket: str, origin: str | None = None) -> Any:
        ws_url = self.url.replace("http://", "ws://") + f"/api/v1/ws?ticket={ticket}"
        return connect(ws_url, origin=origin, open_timeout=5)  # type: ignore[arg-type]

    async def open(self, member: Member) -> ClientConnection:
        socket: ClientConnection = await self.socket(await self.ticket(member))
        return socket


async def next_frame(
    socket: ClientConnection,
    want: Callable[[dict[str, Any]], bool] | None = None,
    timeout: float = 5,
) -> dict[str, Any]:
    """The next frame (skipping server pings), or the next one ``want`` accepts."""

    async def read() -> dict[str, Any]:
        while True:
            frame: dict[str, Any] = json.loads(await socket.recv())
            if frame["type"] == "ping":
                continue
            if want is None or want(frame):
                return frame

    return await asyncio.wait_for(read(), timeout)


async def subscribe(socket: ClientConnection, topic: str) -> list[dict[str, Any]]:
    """Subscribe and return the frames up to the confirmation (snapshot, then subscribed)."""
    await socket.send(json.dumps({"type": "subscribe", "topic": topic}))
    frames = []
    while True:
        frame = await next_frame(socket)
        frames.append(frame)
        if frame["type"] in ("subscribed", "error"):
            return frames


@asynccontextmanager
async def serving(database_url: str, tmp_path: Path, **overrides: Any) -> AsyncIterator[Live]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    values = {"public_base_url": url, **FAST, **overrides}
    settings = make_settings(tmp_path, database_url=database_url, **values)
    app = create_app(settings)
    config = uvicorn.Config(app, **uvicorn_options("127.0.0.1", port), lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            served = Live(url, app, http)
            try:
                yield served
            finally:
                async with served.database.transaction() as db:  # what the test made goes
                    await db.execute(delete(User).where(User.id.in_(served.made)))
    finally:
        server.should_exit = True
        await task


Serve = Callable[..., AbstractAsyncContextManager[Live]]
