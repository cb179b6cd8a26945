"""Real-time events published after commit. The real-time gateway listens here and hands them to
its broker (memory or Redis), which fans them out to the sockets of every process."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.platform.db import after_commit

log = structlog.get_logger(__name__)

# (topic, event, data, seq): seq orders a topic's events when the publisher has a number for
# them (a database version); otherwise the broker numbers them.
Listener = Callable[[str, str, dict[str, Any], int | None], Awaitable[None]]
_listeners: list[Listener] = []


def listen(listener: Listener) -> Callable[[], None]:
    """Receive every published event; returns a function that stops listening."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener)


async def publish(topic: str, event: str, data: dict[str, Any], *, seq: int | None = None) -> None:
    for listener in list(_listeners):
        try:
            await listener(topic, event, data, seq)
        except Exception:
            log.exception("event_listener_failed", topic=topic, event=event)


def publish_after_commit(
    db: AsyncSession, topic: str, event: str, data: dict[str, Any], *, seq: int | None = None
) -> None:
    async def send() -> None:
        await publish(topic, event, data, seq=seq)

    after_commit(db, send)
