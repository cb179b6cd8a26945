"""Calls on the real-time gateway: the room topic ``call.<appointment id>`` (its members; a
snapshot of who waits and who is in the call), the peer topic ``call.<appointment id>.<peer id>``
(the signals sent to one peer: only its own person reads it), the client frame ``signal``, and
the sweep that takes silent members out (each gateway tick).

A signal passes only from a peer in the call to another peer in the same call, checked for
each frame against the database: one from someone who left, or to someone not in the call, is
refused (``not_in_call``) and goes nowhere.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.platform.errors import Conflict
from carebridge.platform.events import publish
from carebridge.platform.realtime.topics import (
    GatewayContext,
    Identity,
    on_tick,
    parse_action,
    register_action,
    register_topic,
)
from carebridge.scheduling.models import Appointment
from carebridge.video import policy, service, views


def _parts(topic: str) -> tuple[uuid.UUID, uuid.UUID | None] | None:
    """(appointment id, peer id or None) of a call topic; None if it is not one."""
    parts = topic.removeprefix(policy.TOPIC).split(".")
    try:
        if len(parts) == 1:
            return uuid.UUID(parts[0]), None
        if len(parts) == 2:
            return uuid.UUID(parts[0]), uuid.UUID(parts[1])
    except ValueError:
        return None
    return None


async def members_only(db: AsyncSession, identity: Identity, topic: str) -> bool:
    """The room: its members. A peer's signals: the person whose peer it is."""
    parts = _parts(topic)
    if parts is None:
        return False
    appointment_id, peer = parts
    if peer is not None:
        return await views.owns_peer(db, identity.user_id, appointment_id, peer)
    found = await db.scalar(
        policy.member_appointments(identity.user_id)
        .where(Appointment.id == appointment_id)
        .with_only_columns(Appointment.id)
    )
    return found is not None


async def snapshot(db: AsyncSession, identity: Identity, topic: str) -> dict[str, Any]:
    parts = _parts(topic)
    assert parts is not None  # authorized first
    appointment_id, peer = parts
    if peer is not None:
        return {"participant_id": str(peer)}
    return await views.room_snapshot(db, appointment_id)


register_topic(policy.TOPIC, members_only, snapshot)


class _Signal(BaseModel):
    model_config = ConfigDict(extra="ignore")

    appointment_id: uuid.UUID
    sender: uuid.UUID = Field(alias="from")
    to: uuid.UUID
    kind: Literal["offer", "answer", "candidate", "hangup"]
    data: dict[str, Any] = Field(default_factory=dict)


async def signal_frame(
    context: GatewayContext, identity: Identity, frame: dict[str, Any]
) -> dict[str, Any]:
    """``{"type": "signal", "appointment_id", "from": <your peer>, "to": <their peer>, "kind":
    "offer"|"answer"|"candidate"|"hangup", "data": {...}}``: the other peer gets ``signal`` on
    its topic with ``from``, ``user_id``, ``kind`` and ``data`` as sent."""
    body = parse_action(_Signal, frame)
    topic = await views.signal_route(
        context.database, identity.user_id, body.appointment_id, body.sender, body.to
    )
    if topic is None:
        raise Conflict("Both peers must be in the call.", code="not_in_call")
    data = {
        "appointment_id": str(body.appointment_id),
        "from": str(body.sender),
        "user_id": str(identity.user_id),
        "kind": body.kind,
        "data": body.data,
    }
    await publish(topic, "signal", data)
    return {"delivered": True}


register_action("signal", signal_frame)


@on_tick
async def sweep(context: GatewayContext) -> None:
    async with context.database.transaction() as db:
        await service.sweep(db, context.settings, datetime.now(UTC))
