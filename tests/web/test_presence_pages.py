"""The doctor's own status badge on the dashboard follows doctors.presence only while the doctor
is listed: the topic's snapshot does not carry anyone else, so an unlisted doctor's live badge
would read 'Offline' while they are online."""

from __future__ import annotations

import re

from tests.factories.directory import MakeDoctor
from tests.factories.web import Browser


async def test_the_dashboard_badge_is_live_for_a_listed_doctor_only(
    make_doctor: MakeDoctor, browser: Browser
) -> None:
    listed = await (await browser(await make_doctor(verified=True))).get("/home")
    badge = re.search(r'<span class="presence-badge[^>]*id="my-status"[^>]*>([^<]*)<', listed.text)
    assert badge, listed.text[:2000]
    assert badge.group(1) == "Offline"
    assert "data-presence-badge" in badge.group(0)
    # A doctor awaiting verification is told why instead: no switch, and no badge the topic
    # (which carries listed doctors only) would turn to "Offline".
    waiting = await (await browser(await make_doctor(verified=False))).get("/home")
    assert 'id="my-status"' not in waiting.text
    assert 'id="not-verified"' in waiting.text
