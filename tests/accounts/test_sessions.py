"""Refresh rotation, reuse detection, and every way a session ends."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import httpx

from carebridge.accounts.models import Role
from tests.factories import PASSWORD, Committed, MakeUser, SignIn

REFRESH = "/api/v1/auth/refresh"
ME = "/api/v1/me"


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(REFRESH, json={"refresh_token": token})


async def test_refresh_rotates_and_a_reused_token_ends_the_family(
    client: httpx.AsyncClient, sign_in: SignIn
) -> None:
    me = await sign_in()
    first = await refresh(client, me.refresh_token)
    assert first.status_code == 200
    second = await refresh(client, first.json()["refresh_token"])
    assert second.status_code == 200
    newest = second.json()

    reused = await refresh(client, me.refresh_token)  # the original, already spent
    assert reused.status_code == 401
    assert reused.json()["code"] == "refresh_token_reused"
    # The whole family is gone: the newest refresh token and every access token of the session.
    assert (await refresh(client, newest["refresh_token"])).status_code == 401
    for access in (me.access_token, newest["access_token"]):
        response = await client.get(ME, headers={"Authorization": f"Bearer {access}"})
        assert response.status_code == 401


async def test_unknown_refresh_token_is_refused(client: httpx.AsyncClient) -> None:
    response = await refresh(client, "x" * 43)
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_refresh_token"


async def test_twenty_concurrent_refreshes_with_one_token_succeed_once(
    committed: Committed,
) -> None:
    client, email = committed.client, committed.user.email
    login = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    token = login.json()["refresh_token"]
    responses = await asyncio.gather(*(refresh(client, token) for _ in range(20)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) == 1, statuses
    assert set(statuses) == {200, 401}


async def test_logout_ends_this_session_at_once(client: httpx.AsyncClient, sign_in: SignIn) -> None:
    me = await sign_in()
    assert (await client.post("/api/v1/auth/logout", headers=me.headers)).status_code == 204
    ended = await client.get(ME, headers=me.headers)
    assert (ended.status_code, ended.json()["code"]) == (401, "invalid_token")
    spent = await refresh(client, me.refresh_token)
    assert (spent.status_code, spent.json()["code"]) == (401, "invalid_refresh_token")


async def test_logout_all_ends_every_session(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user()
    devices = []
    for _ in range(3):
        pair = (
            await client.post(
                "/api/v1/auth/login", json={"email": user.email, "password": PASSWORD}
            )
        ).json()
        devices.append({"Authorization": f"Bearer {pair['access_token']}"})
    assert (await client.post("/api/v1/auth/logout-all", headers=devices[0])).status_code == 204
    for headers in devices:
        assert (await client.get(ME, headers=headers)).status_code == 401


async def test_password_change_ends_existing_tokens_and_returns_a_new_pair(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user()

    def login() -> Awaitable[httpx.Response]:
        return client.post("/api/v1/auth/login", json={"email": user.email, "password": PASSWORD})

    phone, laptop = (await login()).json(), (await login()).json()
    headers = {"Authorization": f"Bearer {phone['access_token']}"}
    wrong = await client.post(
        "/api/v1/auth/password/change",
        headers=headers,
        json={"current_password": "not-it-at-all-9", "new_password": "maple-quartz-ferry-77"},
    )
    assert wrong.status_code == 401
    changed = await client.post(
        "/api/v1/auth/password/change",
        headers=headers,
        json={"current_password": PASSWORD, "new_password": "maple-quartz-ferry-77"},
    )
    assert changed.status_code == 200, changed.text
    for old in (phone, laptop):
        assert (
            await client.get(ME, headers={"Authorization": f"Bearer {old['access_token']}"})
        ).status_code == 401
        assert (await refresh(client, old["refresh_token"])).status_code == 401
    fresh = {"Authorization": f"Bearer {changed.json()['access_token']}"}
    assert (await client.get(ME, headers=fresh)).status_code == 200
    assert (await login()).status_code == 401
    again = await client.post(
        "/api/v1/auth/login", json={"email": user.email, "password": "maple-quartz-ferry-77"}
    )
    assert again.status_code == 200


async def test_disabling_a_user_ends_their_tokens(
    client: httpx.AsyncClient, sign_in: SignIn
) -> None:
    admin = await sign_in(Role.admin)
    patient = await sign_in()
    # In use: this process remembers the token as verified, which must not keep it working.
    assert (await client.get(ME, headers=patient.headers)).status_code == 200
    response = await client.post(
        f"/api/v1/admin/users/{patient.user_id}/disable", headers=admin.headers
    )
    assert response.status_code == 200
    assert response.json()["status"] == "disabled"
    ended = await client.get(ME, headers=patient.headers)
    assert (ended.status_code, ended.json()["code"]) == (401, "invalid_token")
    spent = await refresh(client, patient.refresh_token)
    assert (spent.status_code, spent.json()["code"]) == (401, "invalid_refresh_token")
    relogin = await client.post(
        "/api/v1/auth/login", json={"email": patient.email, "password": PASSWORD}
    )
    assert relogin.status_code == 403
    assert relogin.json()["code"] == "account_disabled"


async def test_sessions_are_listed_and_revoked_only_by_their_owner(
    client: httpx.AsyncClient, make_user: MakeUser, sign_in: SignIn
) -> None:
    user = await make_user()

    def login() -> Awaitable[httpx.Response]:
        return client.post(
            "/api/v1/auth/login",
            json={"email": user.email, "password": PASSWORD},
            headers={"User-Agent": "CareBridge-iOS/1.0"},
        )

    first, second, third = [(await login()).json() for _ in range(3)]
    headers = {"Authorization": f"Bearer {first['access_token']}"}
    sessions = (await client.get("/api/v1/me/sessions", headers=headers)).json()
    assert len(sessions) == 3
    assert [s["current"] for s in sessions].count(True) == 1
    assert {s["user_agent"] for s in sessions} == {"CareBridge-iOS/1.0"}

    stranger = await sign_in()
    target = next(s["id"] for s in sessions if not s["current"])
    refused = await client.delete(f"/api/v1/me/sessions/{target}", headers=stranger.headers)
    assert refused.status_code == 404
    assert (
        await client.delete(f"/api/v1/me/sessions/{target}", headers=headers)
    ).status_code == 204
    assert len((await client.get("/api/v1/me/sessions", headers=headers)).json()) == 2

    assert (
        await client.post("/api/v1/me/sessions/revoke-others", headers=headers)
    ).status_code == 204
    remaining = (await client.get("/api/v1/me/sessions", headers=headers)).json()
    assert [s["current"] for s in remaining] == [True]
    for other in (second, third):
        assert (
            await client.get(ME, headers={"Authorization": f"Bearer {other['access_token']}"})
        ).status_code == 401


async def test_profile_updates_are_validated(client: httpx.AsyncClient, sign_in: SignIn) -> None:
    me = await sign_in()
    ok = await client.patch(
        ME,
        headers=me.headers,
        json={"phone": "+1 415 555 2671", "time_zone": "America/New_York", "name": "New Name"},
    )
    assert ok.status_code == 200, ok.text
    assert (ok.json()["phone"], ok.json()["time_zone"], ok.json()["name"]) == (
        "+14155552671",
        "America/New_York",
        "New Name",
    )
    for bad in (
        {"phone": "12345"},
        {"time_zone": "Mars/Olympus"},
        {"role": "admin"},
        {"locale": "english"},
    ):
        response = await client.patch(ME, headers=me.headers, json=bad)
        assert response.status_code == 422, bad
    cleared = await client.patch(ME, headers=me.headers, json={"phone": ""})
    assert cleared.json()["phone"] is None
