"""A ``chat`` appointment is held in its conversation: what the conversation shows of its
appointment (``ConversationOut.session``) and the ``session.changed`` event its members see
live when a person moves it.

The rules stay scheduling's: the moves the reader may make now are ``lifecycle.moves_now``'s
(the one time rule, ``lifecycle.window``, and the statuses of ``policy.MOVES``), on the
appointments ``lifecycle.act`` lets them act on. Starting and completing go through the
appointment routes (``lifecycle.act``); the conversation reacts to them through scheduling's
``MOVED`` hook (``service.on_moved``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.config import Settings
from carebridge.messaging.models import Conversation
from carebridge.messaging.schemas import SessionOut
from carebridge.scheduling.lifecycle import SessionState, session_states
from carebridge.scheduling.models import Appointment

SESSION_CHANGED = "session.changed"


def session_out(state: SessionState) -> SessionOut:
    start = state.moves.get("start")
    return SessionOut(
        type=state.type,
        status=state.status,
        starts_at=state.starts_at,
        ends_at=state.ends_at,
        may_start="start" in state.moves and start is None,
        start_possible_from=start,
        may_complete="complete" in state.moves and state.moves["complete"] is None,
    )


async def sessions_of(
    db: AsyncSession,
    settings: Settings,
    actor: Actor,
    conversations: Sequence[Conversation],
    now: datetime,
) -> dict[uuid.UUID, SessionOut]:
    """The session of each appointment's conversation among ``conversations`` (which ``actor``
    may see), by conversation id."""
    appointments = {c.appointment_id: c.id for c in conversations if c.appointment_id}
    states = await session_states(db, settings, actor, list(appointments), now)
    return {appointments[key]: session_out(state) for key, state in states.items()}


def session_event(appointment: Appointment) -> dict[str, Any]:
    """The data of ``session.changed``: the appointment's status and times (what every member
    may see; whether one may start or complete it is theirs to ask)."""
    return {
        "appointment_id": str(appointment.id),
        "type": appointment.type,
        "status": appointment.status,
        "starts_at": appointment.starts_at.isoformat(),
        "ends_at": appointment.ends_at.isoformat(),
    }
