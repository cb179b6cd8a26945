"""The account pages over HTTP: cookies, CSRF, redirects, timeouts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import update

from carebridge.accounts.models import AuthSession, Role
from carebridge.platform.db import Database
from tests.factories import PASSWORD, MakeUser
from tests.factories.web import csrf, sign_in_browser


async def test_pages_for_signed_in_people_send_others_to_sign_in(client: httpx.AsyncClient) -> None:
    response = await client.get("/account")
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?next=%2Faccount"


async def test_forms_without_the_csrf_token_are_refused(client: httpx.AsyncClient) -> None:
    await client.get("/signup")  # sets the CSRF cookie
    response = await client.post(
        "/signup",
        data={"name": "X", "email": "x@example.org", "password": PASSWORD},
        headers={"accept": "text/html"},
    )
    assert response.status_code == 403
    forged = await client.post(
        "/signup",
        data={"name": "X", "email": "x@example.org", "password": PASSWORD, "csrf_token": "guessed"},
    )
    assert forged.status_code == 403


async def test_sign_up_sign_in_account_and_sign_out(client: httpx.AsyncClient) -> None:
    page = await client.get("/signup")
    cookie = page.headers["set-cookie"]
    assert "cb_csrf=" in cookie
    assert "HttpOnly" in cookie
    created = await client.post(
        "/signup",
        data={
            "name": "Web Patient",
            "email": "web.patient@example.org",
            "password": PASSWORD,
            "role": "patient",
            "time_zone": "Europe/Paris",
            "csrf_token": csrf(page),
        },
    )
    assert created.status_code == 303
    assert created.headers["location"] == "/signin?registered=1"

    signed_in = await sign_in_browser(client, "web.patient@example.org")
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/account"
    session_cookie = signed_in.headers["set-cookie"]
    assert "cb_session=" in session_cookie
    assert "HttpOnly" in session_cookie
    assert "samesite=lax" in session_cookie.lower()

    account = await client.get("/account")
    assert account.status_code == 200
    assert "web.patient@example.org" in account.text
    assert "Europe/Paris" in account.text

    out = await client.post("/signout", data={"csrf_token": csrf(account)})
    assert out.status_code == 303
    assert (await client.get("/account")).status_code == 303


async def test_wrong_password_shows_the_form_again(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user()
    form = await client.get("/signin")
    response = await client.post(
        "/signin",
        data={"email": user.email, "password": "wrong-wrong-wrong-1", "csrf_token": csrf(form)},
    )
    assert response.status_code == 401
    assert "Wrong email or password" in response.text


async def test_sign_in_never_redirects_off_site(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user()
    for target in ("https://evil.example/", "//evil.example/x"):
        response = await sign_in_browser(client, user.email, target)
        assert response.headers["location"] == "/home"


async def test_idle_browser_sessions_end(
    client: httpx.AsyncClient, make_user: MakeUser, database: Database
) -> None:
    user = await make_user()
    await sign_in_browser(client, user.email)
    assert (await client.get("/account")).status_code == 200
    async with database.transaction() as db:
        await db.execute(
            update(AuthSession)
            .where(AuthSession.user_id == user.id)
            .values(idle_expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert (await client.get("/account")).status_code == 303


async def test_admin_page_is_for_admins(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    patient = await make_user()
    await sign_in_browser(client, patient.email)
    assert (await client.get("/admin/users", headers={"accept": "text/html"})).status_code == 403
    client.cookies.clear()
    admin = await make_user(Role.admin)
    pending = await make_user(Role.doctor, email="pending.doc@example.org")
    await sign_in_browser(client, admin.email)
    page = await client.get("/admin/users", params={"q": "pending.doc"})
    assert page.status_code == 200
    assert "pending.doc@example.org" in page.text
    approve = await client.post(
        f"/admin/users/{pending.id}/approve", data={"csrf_token": csrf(page)}
    )
    assert approve.status_code == 303
    listed = await client.get("/admin/users", params={"q": "pending.doc"})
    assert "active" in listed.text


async def test_notification_preferences_page_saves_choices_and_quiet_hours(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user()
    await sign_in_browser(client, user.email)
    page = await client.get("/notifications/preferences")
    assert page.status_code == 200
    assert 'name="account_security:email"' in page.text
    saved = await client.post(
        "/notifications/preferences",
        data={
            "csrf_token": csrf(page),
            "review_received:in_app": "on",
            "quiet_starts": "22:00",
            "quiet_ends": "07:00",
        },
    )
    assert saved.status_code == 200
    assert "Saved." in saved.text
    prefs = await client.get("/notifications/preferences")
    assert 'value="22:00"' in prefs.text
    bad = await client.post(
        "/notifications/preferences",
        data={"csrf_token": csrf(prefs), "quiet_starts": "late", "quiet_ends": "7"},
    )
    assert bad.status_code == 422


async def test_a_browser_saves_its_push_subscription_with_the_csrf_header(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user()
    await sign_in_browser(client, user.email)
    page = await client.get("/notifications/preferences")
    assert 'id="enable-push"' in page.text
    subscription = {
        "endpoint": "https://push.example.org/device-9",
        "keys": {"p256dh": "B" + "A" * 86, "auth": "c2VjcmV0LWF1dGgtMTI"},
    }
    refused = await client.post("/notifications/push-subscription", json=subscription)
    assert refused.status_code == 403
    saved = await client.post(
        "/notifications/push-subscription", json=subscription, headers={"X-CSRF-Token": csrf(page)}
    )
    assert saved.status_code == 204
    sw = await client.get("/static/sw.js")
    assert sw.status_code == 200
    assert "showNotification" in sw.text
