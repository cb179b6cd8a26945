"""Attacks on the real-time stream's one-time tickets, against a running server: a ticket stolen
and tried from another site, look-alike origins, a ticket that outlives its session or its user,
one ticket raced on two sockets.

tests/realtime/test_gateway.py has a ticket used twice, an expired one, and another site's page
refused; these add the refusals' codes and what those tests leave open."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlsplit

import pytest
from sqlalchemy import update
from websockets.exceptions import InvalidStatus

from carebridge.accounts.models import User, UserStatus
from tests.factories.realtime import Live, next_frame


async def refusal(live: Live, ticket: str, origin: str | None = None) -> tuple[int, str]:
    """The status and problem code the upgrade was refused with."""
    with pytest.raises(InvalidStatus) as refused:
        async with live.socket(ticket, origin=origin):
            pass
    response = refused.value.response
    return response.status_code, json.loads(response.body)["code"]


async def opens(live: Live, ticket: str) -> bool:
    async with live.socket(ticket, origin=live.url) as socket:
        await socket.send(json.dumps({"type": "ping"}))
        return bool((await next_frame(socket))["type"] == "pong")


async def test_a_ticket_tried_from_another_site_is_spent(live: Live) -> None:
    """A stolen ticket gets one try: refused for its origin, it is gone for everyone."""
    ticket = await live.ticket(await live.member())
    assert await refusal(live, ticket, "https://evil.example") == (403, "origin_not_allowed")
    assert await refusal(live, ticket, live.url) == (401, "invalid_ticket")


async def test_origins_that_only_look_like_ours_are_refused(live: Live) -> None:
    member = await live.member()
    port = urlsplit(live.url).port
    assert port is not None
    look_alikes = [
        f"{live.url}.evil.example",  # our origin as a prefix of another host
        f"http://evil.example.127.0.0.1:{port}",  # ... and as a suffix
        live.url.replace("http://", "https://"),  # another scheme
        f"http://127.0.0.1:{port + 1}",  # another port
        "http://127.0.0.1",  # no port
        "null",  # a sandboxed frame or a file:// page
    ]
    answers = {o: await refusal(live, await live.ticket(member), o) for o in look_alikes}
    assert answers == dict.fromkeys(look_alikes, (403, "origin_not_allowed"))
    assert await opens(live, await live.ticket(member))  # the control: our own origin opens


async def test_a_ticket_of_a_signed_out_session_is_refused(live: Live) -> None:
    member = await live.member()
    ticket = await live.ticket(member)
    assert (await live.http.post("/api/v1/auth/logout", headers=member.headers)).status_code == 204
    assert await refusal(live, ticket, live.url) == (401, "invalid_ticket")


async def test_a_ticket_of_a_disabled_user_is_refused(live: Live) -> None:
    """The user's status alone refuses it: the live-session rule, not the sessions the
    disabling ends."""
    member = await live.member()
    ticket, spare = await live.ticket(member), await live.ticket(member)
    assert await opens(live, spare)  # the control: the same user's ticket opened before
    async with live.database.transaction() as db:
        await db.execute(
            update(User).where(User.id == member.user_id).values(status=UserStatus.disabled)
        )
    assert await refusal(live, ticket, live.url) == (401, "invalid_ticket")


async def test_one_ticket_raced_on_two_sockets_opens_one(live: Live) -> None:
    ticket = await live.ticket(await live.member())
    results = await asyncio.gather(
        opens(live, ticket), opens(live, ticket), opens(live, ticket), return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, InvalidStatus)]
    assert results.count(True) == 1, results
    assert [r.response.status_code for r in refused] == [401, 401]
