"""A signed-in browser's form token is bound to its session: valid for that session alone, and
renewed whenever a session starts or ends (sign-in, the second step, a password change, sign-out),
so a token planted or read before sign-in works no longer after it (login CSRF, token fixation).

Each test posts a real form that would change the account (the profile's name) on the app, with
the token under test, and reads the account back: a refused token is the CSRF refusal (403, "The
form expired") and nothing changed; the browser's current token gets past the check."""

from __future__ import annotations

import re
import time

import httpx
import pyotp
from fastapi import FastAPI
from sqlalchemy import select

from carebridge.accounts.models import Role, User
from carebridge.platform.db import Database
from carebridge.web.session import CSRF_COOKIE, CsrfFailed
from tests.factories import PASSWORD, MakeUser
from tests.factories.web import Browser, csrf, form_token, sign_in_browser


async def rename(browser: httpx.AsyncClient, token: str, name: str) -> httpx.Response:
    """The account page's profile form, posted with ``token``."""
    form = {"name": name, "phone": "", "time_zone": "UTC", "csrf_token": token}
    return await browser.post("/account/profile", data=form)


def refused(answer: httpx.Response) -> bool:
    return answer.status_code == 403 and CsrfFailed.title in answer.text


async def name_of(database: Database, user: User) -> str:
    async with database.transaction() as db:
        return str(await db.scalar(select(User.name).where(User.id == user.id)))


async def sign_in_with(browser: httpx.AsyncClient, email: str, token: str) -> httpx.Response:
    form = {"email": email, "password": PASSWORD, "next": "/account", "csrf_token": token}
    return await browser.post("/signin", data=form)


async def test_a_token_from_before_sign_in_is_refused_after_it(
    client: httpx.AsyncClient, make_user: MakeUser, database: Database
) -> None:
    user = await make_user(Role.patient)
    before = await form_token(client)
    signed = await sign_in_with(client, user.email, before)
    assert signed.status_code == 303, signed.text
    assert CSRF_COOKIE not in client.cookies  # the pre-session cookie is spent

    answer = await rename(client, before, "Renamed with the old token")
    assert refused(answer), (answer.status_code, answer.text[:300])
    assert await name_of(database, user) == user.name

    after = await form_token(client)
    assert after != before
    assert (await rename(client, after, "Renamed")).status_code == 200
    assert await name_of(database, user) == "Renamed"


async def test_a_planted_pre_session_cookie_gives_no_token_after_sign_in(
    app: FastAPI, client: httpx.AsyncClient, make_user: MakeUser, database: Database
) -> None:
    """Token fixation: another site sets the visitor cookie in the victim's browser and knows
    its token (it opened our sign-in page with the same cookie). Once the victim signs in, the
    token it knows is refused."""
    user = await make_user(Role.patient)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as attacker:
        planted_token = await form_token(attacker)
        planted_cookie = attacker.cookies[CSRF_COOKIE]
    client.cookies.set(CSRF_COOKIE, planted_cookie)
    assert await form_token(client) == planted_token  # before sign-in, it is the visitor's
    assert (await sign_in_with(client, user.email, planted_token)).status_code == 303

    assert refused(await rename(client, planted_token, "Planted"))
    assert await name_of(database, user) == user.name


async def test_a_token_of_another_session_of_the_same_person_is_refused(
    browser: Browser, make_user: MakeUser, database: Database
) -> None:
    user = await make_user(Role.patient)
    laptop, phone = await browser(user), await browser(user)
    laptop_token, phone_token = await form_token(laptop), await form_token(phone)
    assert laptop_token != phone_token

    assert refused(await rename(phone, laptop_token, "From the laptop's token"))
    assert refused(await rename(laptop, phone_token, "From the phone's token"))
    assert await name_of(database, user) == user.name
    assert (await rename(phone, phone_token, "From the phone")).status_code == 200
    assert await name_of(database, user) == "From the phone"


async def test_the_token_of_a_signed_out_session_is_refused(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user(Role.patient)
    visitor_token = await form_token(client)
    assert (await sign_in_with(client, user.email, visitor_token)).status_code == 303
    session_token = await form_token(client)
    signed_out = await client.post("/signout", data={"csrf_token": session_token})
    assert signed_out.status_code == 303, signed_out.text

    # Neither the ended session's token nor the one from before it opens the sign-in form
    # (the visitor cookie was renewed); the new page's token does.
    new_visitor_token = await form_token(client)
    assert new_visitor_token not in (visitor_token, session_token)
    for old in (session_token, visitor_token):
        assert refused(await sign_in_with(client, user.email, old))
        assert refused(await client.post("/signout", data={"csrf_token": old}))
    assert (await sign_in_with(client, user.email, new_visitor_token)).status_code == 303


async def test_a_password_change_renews_the_token(
    client: httpx.AsyncClient, make_user: MakeUser, database: Database
) -> None:
    """Changing the password ends every session and resumes in a new one: the form token of the
    ended session is refused."""
    user = await make_user(Role.patient)
    assert (await sign_in_browser(client, user.email)).status_code == 303
    old = await form_token(client)
    changed = await client.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": "a quite different passphrase 42",
            "csrf_token": old,
        },
    )
    assert changed.status_code == 303, changed.text[:500]
    assert refused(await rename(client, old, "After the change"))
    assert await name_of(database, user) == user.name
    assert (await rename(client, await form_token(client), "After")).status_code == 200


async def test_the_second_step_renews_the_token(
    app: FastAPI, client: httpx.AsyncClient, make_user: MakeUser, database: Database
) -> None:
    """The token of the sign-in pages (password, then the code) is refused once the second
    step has started the session."""
    user = await make_user(Role.patient)
    assert (await sign_in_browser(client, user.email)).status_code == 303
    token = csrf(await client.get("/account"))
    setup = await client.post("/account/mfa/setup", data={"csrf_token": token})
    secret = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', setup.text)
    assert secret, setup.text[:2000]
    totp = pyotp.TOTP(secret.group(1))
    enabled = await client.post(
        "/account/mfa/enable", data={"code": totp.at(time.time() - 30), "csrf_token": token}
    )
    assert enabled.status_code == 200, enabled.text[:500]

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as other:
        before = await form_token(other)
        first = await sign_in_with(other, user.email, before)
        assert first.headers["location"].startswith("/signin/mfa"), first.text
        second = await other.post("/signin/mfa", data={"code": totp.now(), "csrf_token": before})
        assert second.status_code == 303, second.text[:500]
        assert refused(await rename(other, before, "Before the second step"))
        assert await name_of(database, user) == user.name
        assert (await rename(other, await form_token(other), "Second")).status_code == 200


async def test_scripts_send_the_session_token_in_the_header(
    browser: Browser, make_user: MakeUser
) -> None:
    """What ``live.js`` does: read the hidden field, send it as X-CSRF-Token. Another session's
    token in the header is refused."""
    user = await make_user(Role.patient)
    mine, other = await browser(user), await browser(user)
    stolen = await mine.post("/realtime/ticket", headers={"x-csrf-token": await form_token(other)})
    assert refused(stolen), stolen.text[:300]
    own = await mine.post("/realtime/ticket", headers={"x-csrf-token": await form_token(mine)})
    assert own.status_code == 200, own.text[:300]
    assert own.json()["ticket"]
