"""Calls act on scheduling's hooks, inside scheduling's transaction: an appointment completed,
cancelled or marked a no-show closes its call room, and whoever is in it is told."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.scheduling.hooks import MOVED, Moved
from carebridge.video import service


async def on_moved(db: AsyncSession, moved: Moved) -> None:
    await service.on_moved(db, moved.scope.settings, moved.appointment)


MOVED.subscribe(on_moved)
