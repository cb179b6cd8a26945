from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from carebridge.accounts.models import Role
from carebridge.app import create_app
from carebridge.config import Settings
from carebridge.platform.db import Database
from tests.factories import MakeUser
from tests.factories.web import sign_in_browser


@pytest.fixture
def app(settings: Settings, database: Database) -> FastAPI:
    return create_app(
        settings.model_copy(update={"require_mfa_for_staff": True}), database=database
    )


async def test_staff_without_a_second_factor_are_sent_to_enrol(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    admin = await make_user(Role.admin)
    signed_in = await sign_in_browser(client, admin.email, "/admin/users")
    assert signed_in.headers["location"] == "/account?enrol=1#mfa"
    account = await client.get("/account", params={"enrol": 1})
    assert "need two-step sign-in" in account.text
    refused = await client.get("/admin/users", headers={"accept": "text/html"})
    assert refused.status_code == 403
