"""Fixtures of the real-time tests: a real uvicorn serving the application in the test's event
loop (tests/factories/realtime.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.factories.realtime import Live, Serve, serving


@pytest.fixture
def serve(database_url: str, tmp_path: Path, engine: AsyncEngine) -> Serve:
    """Start a server with these settings (the database is migrated by ``engine``)."""

    def start(**overrides: Any) -> AbstractAsyncContextManager[Live]:
        return serving(database_url, tmp_path / uuid.uuid4().hex[:6], **overrides)

    return start


@pytest.fixture
async def live(serve: Serve) -> AsyncIterator[Live]:
    async with serve() as served:
        yield served
