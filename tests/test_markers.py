"""`pytest -m "not e2e"` runs everything but the browser tests, and `-m e2e` only them: the e2e
conftest's hook (``mark_browser_tests``) sees every collected item of the session and must mark
only its folder's."""

from __future__ import annotations

import pytest

from tests.factories.live import E2E_DIR, mark_browser_tests


def test_the_e2e_hook_leaves_other_tests_unmarked(request: pytest.FixtureRequest) -> None:
    mark_browser_tests([request.node])
    assert request.node.get_closest_marker("e2e") is None


def test_every_collected_browser_test_is_marked(request: pytest.FixtureRequest) -> None:
    for item in request.session.items:
        inside = item.path.is_relative_to(E2E_DIR)
        assert (item.get_closest_marker("e2e") is not None) == inside, item.nodeid
