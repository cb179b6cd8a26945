"""The pre-call check in Chromium with fake camera and microphone, against a real coturn: the
camera shows, the microphone's level moves, a tone plays, and the relay is reachable; with a
server whose TURN secret is not coturn's (a forged credential) the relay is not reachable. A
server of its own for each (the package's live server has no TURN configured)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy.ext.asyncio import AsyncEngine

from carebridge.accounts.models import User
from carebridge.config import Settings
from tests.e2e.world import DESKTOP, browsing
from tests.factories.live import LiveServer, server_env
from tests.factories.turn import TurnServer
from tests.helpers import running_server

ServerWith = Callable[[str], AbstractContextManager[LiveServer]]


@pytest.fixture
def server_with(
    database_url: str,
    owner_engine: AsyncEngine,
    coturn: TurnServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> ServerWith:
    """A live server handing out credentials for ``coturn`` signed with ``secret``."""

    @contextmanager
    def start(secret: str) -> Iterator[LiveServer]:
        data_dir: Path = tmp_path_factory.mktemp("call-check")
        env = server_env(
            database_url,
            data_dir,
            CAREBRIDGE_TURN_URLS=",".join(coturn.urls),
            CAREBRIDGE_TURN_SECRET=secret,
        )
        with running_server(env, data_dir / "server.log") as (base_url, _):
            yield LiveServer(base_url, data_dir)

    return start


async def _check(browser: Browser, server: LiveServer, settings: Settings, user: User) -> str:
    """Run the check; answers the relay's verdict (its status line's data-state)."""
    async with browsing(browser, server, settings, user, DESKTOP) as page:
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        answer = await page.goto(f"{server}/call-check")
        assert answer is not None
        assert "camera=(self)" in answer.headers["permissions-policy"]
        await page.click("#check-start")
        await expect(page.locator("#camera-status")).to_have_attribute("data-state", "ok")
        # The fake microphone beeps: the level rises above silence.
        await expect(page.locator("#mic-status")).to_have_attribute(
            "data-state", "ok", timeout=10_000
        )
        playing = await page.evaluate(
            "() => { const v = document.getElementById('camera-preview');"
            " return v.videoWidth > 0 && !v.paused; }"
        )
        assert playing
        await page.click("#speaker-test")
        await expect(page.locator("#speaker-status")).to_have_attribute("data-state", "played")
        relay = page.locator("#relay-status")
        await expect(relay).not_to_have_attribute("data-state", "checking", timeout=15_000)
        await expect(relay).not_to_have_attribute("data-state", "idle")
        assert errors == []
        return str(await relay.get_attribute("data-state"))


async def test_the_check_reaches_the_relay_with_the_shared_secret_only(
    media_browser: Browser,
    server_with: ServerWith,
    coturn: TurnServer,
    settings: Settings,
    doctor_and_patient: tuple[User, User],
) -> None:
    _, patient = doctor_and_patient
    with server_with(coturn.secret) as server:
        assert await _check(media_browser, server, settings, patient) == "reachable"
    forged = secrets.token_urlsafe(24)
    with server_with(forged) as server:
        assert await _check(media_browser, server, settings, patient) == "unreachable"
