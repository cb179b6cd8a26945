"""Fixtures of the call tests: a real coturn on loopback (tests/factories/turn.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.factories.turn import TurnServer, real_coturn


@pytest.fixture(scope="session")
def turn_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TurnServer]:
    """One coturn for the session, with loopback peers allowed (the tests' peers are all on
    loopback); skipped when coturn is not installed."""
    with real_coturn(tmp_path_factory.mktemp("coturn")) as server:
        yield server
