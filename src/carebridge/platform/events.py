"""Real-time events published after commit. The WebSocket gateway (next) subscribes here and
fans them out; until then listeners in the process receive them (tests, metrics)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.platform.db import after_commit

log = structlog.get_logger(__name__)

Listener = Callable[[str, str, dict[str, Any]], Awaitable[None]]
_listeners: list[Listener] = []


def listen(listener: Listener) -> Callable[[], None]:
    """Receive every published event; returns a function that stops listening."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener)


async def publish(topic: str, event: str, data: dict[str, Any]) -> None:
    for listener in list(_listeners):
        try:
            await listener(topic, event, data)
        except Exception:
            log.exception("event_listener_failed", topic=topic, event=event)


def publish_after_commit(db: AsyncSession, topic: str, event: str, data: dict[str, Any]) -> None:
    async def send() -> None:
        await publish(topic, event, data)

    after_commit(db, send)
