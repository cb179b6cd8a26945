"""Two-step sign-in from the account page alone: enrol (pyotp computes the codes), make new
recovery codes (the old ones stop working), turn it off with the password and a code; a wrong
code is refused with a clear message and changes nothing."""

from __future__ import annotations

import re
import time

import httpx
import pyotp
from fastapi import FastAPI
from sqlalchemy import select

from carebridge.accounts.models import Role, User
from carebridge.compliance.models import AuditEvent
from carebridge.platform.db import Database
from tests.factories import PASSWORD, MakeUser
from tests.factories.web import csrf, sign_in_browser

HTML = {"accept": "text/html"}


def code_at(secret: str, offset_steps: int) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * offset_steps)


def shown_codes(page: httpx.Response) -> list[str]:
    listed = re.search(r'<ul class="recovery-codes" id="recovery-codes">(.*?)</ul>', page.text)
    assert listed, page.text[:2000]
    return re.findall(r"<code>([^<]+)</code>", listed.group(1))


def page_error(page: httpx.Response) -> str:
    found = re.search(r'<p class="form-error" role="alert">([^<]*)</p>', page.text)
    return found.group(1) if found else ""


async def enrol_on_the_page(client: httpx.AsyncClient) -> tuple[str, list[str], str]:
    """The secret, the recovery codes shown once, and the form token."""
    token = csrf(await client.get("/account"))
    setup = await client.post("/account/mfa/setup", data={"csrf_token": token})
    secret = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', setup.text)
    assert secret, setup.text[:2000]
    enabled = await client.post(
        "/account/mfa/enable", data={"code": code_at(secret.group(1), -1), "csrf_token": token}
    )
    assert enabled.status_code == 200, enabled.text[:2000]
    return secret.group(1), shown_codes(enabled), token


async def second_step(app: FastAPI, email: str, **code: str) -> httpx.Response:
    """A new browser signing in as ``email`` with the password, then ``code`` or
    ``recovery_code``: 303 when it is signed in."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as other:
        first = await sign_in_browser(other, email)
        assert first.headers["location"].startswith("/signin/mfa"), first.text
        token = csrf(await other.get("/signin"))
        return await other.post("/signin/mfa", data={**code, "csrf_token": token}, headers=HTML)


async def test_recovery_codes_are_renewed_and_two_step_sign_in_turned_off_from_the_page(
    app: FastAPI, client: httpx.AsyncClient, make_user: MakeUser, database: Database
) -> None:
    user = await make_user(Role.patient)
    await sign_in_browser(client, user.email)
    secret, first_codes, token = await enrol_on_the_page(client)
    assert len(first_codes) == 10
    account = await client.get("/account")
    assert 'id="renew-codes-form"' in account.text
    assert 'id="mfa-disable-form"' in account.text

    renewed = await client.post(
        "/account/mfa/recovery-codes",
        data={"password": PASSWORD, "code": code_at(secret, 0), "csrf_token": token},
    )
    assert renewed.status_code == 200, renewed.text[:2000]
    assert "New recovery codes: the old ones no longer work." in renewed.text
    new_codes = shown_codes(renewed)
    assert len(new_codes) == 10
    assert not set(new_codes) & set(first_codes)
    assert 'id="recovery-codes"' not in (await client.get("/account")).text  # shown once

    old = await second_step(app, user.email, recovery_code=first_codes[0])
    assert old.status_code == 401
    assert "Wrong or already used code." in page_error(old)
    assert (await second_step(app, user.email, recovery_code=new_codes[0])).status_code == 303

    wrong = await client.post(
        "/account/mfa/disable",
        data={"password": PASSWORD, "code": "000000", "csrf_token": token},
        headers=HTML,
    )
    assert wrong.status_code == 401
    assert page_error(wrong) == "Wrong password or code."
    assert 'id="mfa-disable-form"' in wrong.text  # still on: the form is there to try again

    off = await client.post(
        "/account/mfa/disable",
        data={"password": PASSWORD, "code": code_at(secret, 1), "csrf_token": token},
    )
    assert off.status_code == 200, off.text[:2000]
    assert "Two-step sign-in is off." in off.text
    assert 'id="mfa-setup"' in off.text
    again = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    async with again:
        signed_in = await sign_in_browser(again, user.email)
    assert signed_in.headers["location"] == "/account"  # no second step any more

    async with database.sessionmaker() as db:
        assert await db.scalar(select(User.mfa_enabled_at).where(User.id == user.id)) is None
        actions = (
            await db.execute(
                select(AuditEvent.action, AuditEvent.outcome).where(
                    AuditEvent.resource_id == str(user.id), AuditEvent.action.like("auth.mfa_%")
                )
            )
        ).all()
    assert {
        ("auth.mfa_recovery_codes_renewed", "success"),
        ("auth.mfa_disabled", "failure"),
        ("auth.mfa_disabled", "success"),
    } <= set(actions)


async def test_a_wrong_password_or_code_renews_nothing(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user(Role.patient)
    await sign_in_browser(client, user.email)
    secret, codes, token = await enrol_on_the_page(client)
    for password, code in (("not-my-password-1", code_at(secret, 0)), (PASSWORD, "000000")):
        refused = await client.post(
            "/account/mfa/recovery-codes",
            data={"password": password, "code": code, "csrf_token": token},
            headers=HTML,
        )
        assert refused.status_code == 401
        assert page_error(refused) == "Wrong password or code."
        assert 'id="recovery-codes"' not in refused.text
    short = await client.post(
        "/account/mfa/recovery-codes",
        data={"password": PASSWORD, "code": "12", "csrf_token": token},
        headers=HTML,
    )
    assert short.status_code == 422
    assert page_error(short) == "Code: at least 6 characters"
    # The first codes still work: nothing was renewed.
    renewed = await client.post(
        "/account/mfa/recovery-codes",
        data={"password": PASSWORD, "code": codes[0], "csrf_token": token},
    )
    assert len(shown_codes(renewed)) == 10
