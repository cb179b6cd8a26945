"""Demo data, for trying CareBridge on a laptop. Idempotent: a second run creates nothing new."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import cast

from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.config import Settings
from carebridge.platform.db import Database
from carebridge.platform.registry import DEMO_SEED_MODULES

Seeder = Callable[[AsyncSession, Settings], Awaitable[int]]


async def seed_demo(database: Database, settings: Settings) -> dict[str, int]:
    """Run every domain's ``seed_demo`` in one transaction; return rows created per domain."""
    created: dict[str, int] = {}
    async with database.transaction() as session:
        for module_path in DEMO_SEED_MODULES:
            seeder = cast(Seeder, importlib.import_module(module_path).seed_demo)
            created[module_path.rsplit(".", 2)[-2]] = await seeder(session, settings)
    return created
