"""Fixtures of the scheduling tests alone (those other folders use too are in
tests/factories/scheduling.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from carebridge.accounts.models import User
from tests.factories.calendar import DoctorWithSchedule, delete_test_jobs, schedule
from tests.factories.directory import MakeDoctor
from tests.factories.scheduling import doctor_on_schedule
from tests.factories.users import Headers, TokenFor


@pytest.fixture
def doctor_with_schedule(
    client: httpx.AsyncClient, make_doctor: MakeDoctor, token_for: TokenFor
) -> DoctorWithSchedule:
    async def make(
        name: str | None = None, fee: int | None = None, **overrides: Any
    ) -> tuple[User, Headers]:
        body = schedule(**overrides)
        return await doctor_on_schedule(client, make_doctor, token_for, body, name, fee)

    return make


@pytest.fixture
async def scheduling_jobs(client: httpx.AsyncClient) -> AsyncIterator[None]:
    """The app's lifespan opens the job queue; jobs are committed outside the test's
    transaction, so the queues these tests fill are emptied afterwards."""
    yield
    await delete_test_jobs()
