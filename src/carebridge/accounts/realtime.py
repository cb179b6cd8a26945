"""Opening the real-time stream: a one-time ticket bought with an access token (or the browser
session), redeemed by ``WS /api/v1/ws?ticket=...``; and the topics every user owns.

Topics of accounts: ``user.<id>`` — a user's own events (notifications, counts); nobody else's.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, WebSocket
from pydantic import BaseModel
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor, AnyUser
from carebridge.accounts.models import AuthSession, RealtimeTicket, User
from carebridge.accounts.policy import live_session
from carebridge.config import Settings
from carebridge.platform.access import caller
from carebridge.platform.deps import RuntimeDep, Session
from carebridge.platform.errors import Unauthenticated
from carebridge.platform.problems import problem_responses
from carebridge.platform.realtime.gateway import origin_allowed, refuse
from carebridge.platform.realtime.topics import Identity, check_sessions_with, register_topic
from carebridge.platform.runtime import Runtime

router = APIRouter(tags=["real-time"])


class TicketOut(BaseModel):
    ticket: str
    expires_at: datetime
    url: str


def _digest(ticket: str) -> bytes:
    return hashlib.sha256(ticket.encode()).digest()


async def issue_ticket(db: AsyncSession, settings: Settings, actor: Actor) -> TicketOut:
    ticket = secrets.token_urlsafe(32)
    expires_at = datetime.now(UTC) + timedelta(seconds=settings.realtime_ticket_seconds)
    db.add(
        RealtimeTicket(
            token_hash=_digest(ticket), session_id=actor.session_id, expires_at=expires_at
        )
    )
    await db.flush()
    return TicketOut(ticket=ticket, expires_at=expires_at, url=f"/api/v1/ws?ticket={ticket}")


async def redeem_ticket(db: AsyncSession, ticket: str) -> Identity | None:
    """Single use: the row is deleted whether or not it is still valid."""
    row = (
        await db.execute(
            delete(RealtimeTicket)
            .where(RealtimeTicket.token_hash == _digest(ticket))
            .returning(RealtimeTicket.session_id, RealtimeTicket.expires_at)
        )
    ).one_or_none()
    now = datetime.now(UTC)
    if row is None or row.expires_at <= now:
        return None
    owner = (
        await db.execute(
            select(User.id, User.role, User.status)
            .join(AuthSession, AuthSession.user_id == User.id)
            .where(AuthSession.id == row.session_id, live_session(now))
        )
    ).one_or_none()
    if owner is None:
        return None
    return Identity(
        user_id=owner.id, session_id=row.session_id, role=str(owner.role), status=str(owner.status)
    )


async def live_sessions(db: AsyncSession, session_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
    now = datetime.now(UTC)
    rows = await db.scalars(
        select(AuthSession.id)
        .join(User, User.id == AuthSession.user_id)
        .where(AuthSession.id.in_(list(session_ids)), live_session(now))
    )
    return set(rows.all())


async def own_user_topic(db: AsyncSession, identity: Identity, topic: str) -> bool:
    return topic == f"user.{identity.user_id}"


register_topic("user.", own_user_topic)
check_sessions_with(live_sessions)


@router.post(
    "/ws/ticket",
    response_model=TicketOut,
    status_code=201,
    responses=problem_responses(Unauthenticated),
)
async def create_ticket(actor: AnyUser, db: Session, runtime: RuntimeDep) -> TicketOut:
    """A one-time ticket for the real-time stream, valid for 30 seconds.

    Connect to `WS /api/v1/ws?ticket=<ticket>`, then send JSON frames
    `{"type": "subscribe", "topic": "doctors.presence"}` (or `user.<your id>`); the server sends
    envelopes `{"type": "event", "topic", "event", "data", "seq"}`, a `snapshot` after each
    subscribe where the topic has one, `error` frames for refused topics, and `ping` frames you
    answer with `{"type": "pong"}`. The socket closes with code 4401 when your session ends.
    """
    return await issue_ticket(db, runtime.settings, actor)


@dataclass(frozen=True)
class TicketCheck:
    identity: Identity | None
    runtime: Runtime


@caller
async def ticket_holder(websocket: WebSocket, ticket: str = "") -> TicketCheck:
    """Whoever holds a valid one-time ticket from POST /api/v1/ws/ticket."""
    runtime: Runtime = websocket.app.state.runtime
    identity = None
    if ticket:
        async with runtime.database.transaction() as db:
            identity = await redeem_ticket(db, ticket)
    return TicketCheck(identity, runtime)


@router.websocket("/ws")
async def realtime_stream(
    websocket: WebSocket, check: Annotated[TicketCheck, Depends(ticket_holder)]
) -> None:
    settings = check.runtime.settings
    if not origin_allowed(websocket, settings):
        await refuse(websocket, 403, "origin_not_allowed", "This site may not open the stream.")
    elif check.identity is None:
        await refuse(
            websocket,
            401,
            "invalid_ticket",
            "Get a ticket from POST /api/v1/ws/ticket (30 s, one use).",
        )
    else:
        await check.runtime.realtime.serve(websocket, check.identity)
