"""The doctor's own status badge on the dashboard follows doctors.presence only while the doctor
is listed: the topic's snapshot does not carry anyone else, so an unlisted doctor's live badge
would read 'Offline' while they are online."""

# ruff: noqa: F811 - tests take imported fixtures as parameters

from __future__ import annotations

import re

from tests.directory.conftest import MakeDoctor, make_doctor  # noqa: F401 - the fixture
from tests.web.test_scheduling_pages import Browser, browser  # noqa: F401 - the fixture


async def test_the_dashboard_badge_is_live_only_for_a_listed_doctor(
    make_doctor: MakeDoctor, browser: Browser
) -> None:
    for verified in (True, False):
        doctor = await make_doctor(verified=verified)
        home = await (await browser(doctor)).get("/home")
        badge = re.search(
            r'<span class="presence-badge[^>]*id="my-status"[^>]*>([^<]*)<', home.text
        )
        assert badge, home.text[:2000]
        assert badge.group(1) == "Offline"
        assert ("data-presence-badge" in badge.group(0)) is verified
