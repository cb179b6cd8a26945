"""Presence on the real-time gateway: the ``doctors.presence`` topic (snapshot, then deltas),
doctors' connections, and the grace period after a doctor's last socket closes.

The grace timer runs in the process where the socket closed; every process's tick also sweeps
(stale connections of dead processes, doctors whose grace ran out), so a crashed process cannot
leave a doctor online.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.models import Role
from carebridge.platform.realtime.topics import (
    GatewayContext,
    Identity,
    on_close,
    on_open,
    on_tick,
    register_topic,
)
from carebridge.presence import service

log = structlog.get_logger(__name__)

_grace_timers: dict[uuid.UUID, asyncio.Task[None]] = {}


async def any_signed_in(db: AsyncSession, identity: Identity, topic: str) -> bool:
    return True


async def snapshot(db: AsyncSession, identity: Identity, topic: str) -> dict[str, Any]:
    return await service.live_snapshot(db)


register_topic(service.TOPIC, any_signed_in, snapshot)


@on_open
async def doctor_connected(
    context: GatewayContext, identity: Identity, connection_id: uuid.UUID
) -> None:
    if identity.role != Role.doctor:
        return
    timer = _grace_timers.pop(identity.user_id, None)
    if timer is not None:
        timer.cancel()
    async with context.database.transaction() as db:
        await service.connection_opened(db, identity.user_id, connection_id, context.process_id)


@on_close
async def doctor_disconnected(
    context: GatewayContext, identity: Identity, connection_id: uuid.UUID
) -> None:
    if identity.role != Role.doctor:
        return
    async with context.database.transaction() as db:
        last = await service.connection_closed(
            db, context.settings, identity.user_id, connection_id
        )
    if last:
        _grace_timers[identity.user_id] = asyncio.create_task(_after_grace(context))


async def _after_grace(context: GatewayContext) -> None:
    await asyncio.sleep(context.settings.presence_offline_grace_seconds)
    await sweep(context)


@on_tick
async def sweep(context: GatewayContext) -> None:
    now = datetime.now(UTC)
    async with context.database.transaction() as db:
        await service.refresh_connections(db, context.process_id)
        await service.orphaned(db, context.settings, now)
        gone = await service.offline_if_gone(db, context.settings, now)
    if gone:
        log.info("presence_offline_after_grace", doctors=len(gone))
