"""Every route that checks a password or a second-factor code is throttled and locked like
sign-in. The routes are found by the dependency they declare (``CheckCredentials``), API and web
pages alike: a route that checks a password and is not listed here fails the first test.

For each: as many wrong guesses as lock an account (from one session, or one browser) lock it,
the right password or code is then refused while it is locked, and sign-in of that account is
locked too: the same lock, not a lock of its own."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pyotp
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from sqlalchemy import func, select

from carebridge.accounts.credentials import (
    LOGIN_PER_ACCOUNT,
    LOGIN_PER_IP,
    MFA_PER_ACCOUNT,
    credential_check,
)
from carebridge.accounts.models import Role, User
from carebridge.compliance.models import AuditEvent
from carebridge.config import Settings
from carebridge.platform.db import Database
from tests.factories import PASSWORD, Headers, MakeUser, TokenFor
from tests.factories.web import csrf

LOGIN = "/api/v1/auth/login"
NEW_PASSWORD = "harbor-cinnamon-glacier-58"
WRONG_PASSWORD = "not-my-password-77"
HTML = {"accept": "text/html"}


def _calls(dependant: Dependant) -> Iterator[Any]:
    yield dependant.call
    for sub in dependant.dependencies:
        yield from _calls(sub)


def checking_routes(app: FastAPI) -> set[str]:
    """``METHOD path`` of every route that declares the credential check."""
    found = set()
    for context in iter_route_contexts(app.routes):
        dependant = getattr(context, "dependant", None)
        if isinstance(dependant, Dependant) and credential_check in set(_calls(dependant)):
            found |= {f"{method} {context.path_format}" for method in context.methods or ()}
    return found


@dataclass
class Kit:
    app: FastAPI
    client: httpx.AsyncClient
    make_user: MakeUser
    token_for: TokenFor


@dataclass
class Guarded:
    """A user, and one request of the route with the right (True) or a wrong (False) secret."""

    user: User
    attempt: Callable[[bool], Awaitable[httpx.Response]]
    action: str  # the audit action of a success


def _wrong_code(secret: str) -> str:
    totp = pyotp.TOTP(secret)
    near = {totp.at(time.time() + 30 * step) for step in (-1, 0, 1, 2)}
    return next(f"{n:06d}" for n in range(10**6) if f"{n:06d}" not in near)


async def _enrolled(kit: Kit) -> tuple[User, Headers, str]:
    user = await kit.make_user(Role.patient)
    headers = await kit.token_for(user)
    setup = await kit.client.post("/api/v1/auth/mfa/totp/setup", headers=headers)
    secret = str(setup.json()["secret"])
    enabled = await kit.client.post(
        "/api/v1/auth/mfa/totp/enable",
        json={"code": pyotp.TOTP(secret).at(time.time() - 30)},
        headers=headers,
    )
    assert enabled.status_code == 200, enabled.text
    return user, headers, secret


def _password(right: bool) -> str:
    return PASSWORD if right else WRONG_PASSWORD


async def _api_login(kit: Kit) -> Guarded:
    user = await kit.make_user(Role.patient)

    async def attempt(right: bool) -> httpx.Response:
        return await kit.client.post(
            LOGIN, json={"email": user.email, "password": _password(right)}
        )

    return Guarded(user, attempt, "auth.login")


async def _signed_in_asks(
    kit: Kit, path: str, body: Callable[[str], dict[str, str]], action: str
) -> Guarded:
    """A route of a signed-in session that asks for the password again."""
    user = await kit.make_user(Role.patient)
    headers = await kit.token_for(user)

    async def attempt(right: bool) -> httpx.Response:
        return await kit.client.post(path, json=body(_password(right)), headers=headers)

    return Guarded(user, attempt, action)


async def _api_password_change(kit: Kit) -> Guarded:
    return await _signed_in_asks(
        kit,
        "/api/v1/auth/password/change",
        lambda password: {"current_password": password, "new_password": NEW_PASSWORD},
        "auth.password_change",
    )


async def _api_email_change(kit: Kit) -> Guarded:
    return await _signed_in_asks(
        kit,
        "/api/v1/me/email",
        lambda password: {
            "new_email": f"moved-{uuid.uuid4().hex[:6]}@example.org",
            "current_password": password,
        },
        "auth.email_change_requested",
    )


async def _api_passkey_options(kit: Kit) -> Guarded:
    return await _signed_in_asks(
        kit,
        "/api/v1/auth/passkeys/registration-options",
        lambda password: {"password": password},
        "auth.passkey_added",
    )


async def _api_totp_disable(kit: Kit) -> Guarded:
    user, headers, secret = await _enrolled(kit)

    async def attempt(right: bool) -> httpx.Response:
        return await kit.client.post(
            "/api/v1/auth/mfa/totp/disable",
            json={"password": _password(right), "code": pyotp.TOTP(secret).now()},
            headers=headers,
        )

    return Guarded(user, attempt, "auth.mfa_disabled")


async def _api_recovery_codes(kit: Kit) -> Guarded:
    user, headers, secret = await _enrolled(kit)

    async def attempt(right: bool) -> httpx.Response:
        return await kit.client.post(
            "/api/v1/auth/mfa/recovery-codes",
            json={"password": _password(right), "code": pyotp.TOTP(secret).now()},
            headers=headers,
        )

    return Guarded(user, attempt, "auth.mfa_recovery_codes_renewed")


async def _api_mfa_verify(kit: Kit) -> Guarded:
    user, _, secret = await _enrolled(kit)
    login = await kit.client.post(LOGIN, json={"email": user.email, "password": PASSWORD})
    mfa_token = login.json()["mfa_token"]

    async def attempt(right: bool) -> httpx.Response:
        code = pyotp.TOTP(secret).now() if right else _wrong_code(secret)
        return await kit.client.post(
            "/api/v1/auth/mfa/verify", json={"mfa_token": mfa_token, "code": code}
        )

    return Guarded(user, attempt, "auth.mfa_verify")


async def _web_sign_in(kit: Kit) -> Guarded:
    user = await kit.make_user(Role.patient)
    token = csrf(await kit.client.get("/signin"))

    async def attempt(right: bool) -> httpx.Response:
        return await kit.client.post(
            "/signin",
            data={"email": user.email, "password": _password(right), "csrf_token": token},
            headers=HTML,
        )

    return Guarded(user, attempt, "auth.login")


async def _web_mfa(kit: Kit) -> Guarded:
    user, _, secret = await _enrolled(kit)
    token = csrf(await kit.client.get("/signin"))
    first = await kit.client.post(
        "/signin", data={"email": user.email, "password": PASSWORD, "csrf_token": token}
    )
    assert first.headers["location"].startswith("/signin/mfa"), first.text

    async def attempt(right: bool) -> httpx.Response:
        code = pyotp.TOTP(secret).now() if right else _wrong_code(secret)
        return await kit.client.post(
            "/signin/mfa", data={"code": code, "csrf_token": token}, headers=HTML
        )

    return Guarded(user, attempt, "auth.mfa_verify")


async def _browser_signed_in(kit: Kit, user: User, secret: str | None = None) -> str:
    """Signs ``user`` in on the client (with the second step when ``secret`` is given); the
    browser's form token."""
    token = csrf(await kit.client.get("/signin"))
    signed = await kit.client.post(
        "/signin", data={"email": user.email, "password": PASSWORD, "csrf_token": token}
    )
    if secret is not None:
        code = pyotp.TOTP(secret).at(time.time() + 30)  # the enrolment used an earlier step
        signed = await kit.client.post("/signin/mfa", data={"code": code, "csrf_token": token})
    assert signed.status_code == 303, signed.text
    assert not signed.headers["location"].startswith("/signin"), signed.headers["location"]
    return token


async def _web_password_change(kit: Kit) -> Guarded:
    user = await kit.make_user(Role.patient)
    token = await _browser_signed_in(kit, user)

    async def attempt(right: bool) -> httpx.Response:
        return await kit.client.post(
            "/account/password",
            data={
                "current_password": _password(right),
                "new_password": NEW_PASSWORD,
                "csrf_token": token,
            },
            headers=HTML,
        )

    return Guarded(user, attempt, "auth.password_change")


async def _web_passkey_options(kit: Kit) -> Guarded:
    """The account page's script asks for a passkey's options with the password (JSON)."""
    user = await kit.make_user(Role.patient)
    token = await _browser_signed_in(kit, user)

    async def attempt(right: bool) -> httpx.Response:
        return await kit.client.post(
            "/account/passkeys/options",
            json={"password": _password(right)},
            headers={"x-csrf-token": token},
        )

    return Guarded(user, attempt, "auth.passkey_added")


async def _web_asks_password_and_code(kit: Kit, path: str, action: str) -> Guarded:
    """A page form of a signed-in browser that asks for the password and a code."""
    user, _, secret = await _enrolled(kit)
    token = await _browser_signed_in(kit, user, secret)

    async def attempt(right: bool) -> httpx.Response:
        return await kit.client.post(
            path,
            data={
                "password": _password(right),
                "code": pyotp.TOTP(secret).now(),
                "csrf_token": token,
            },
            headers=HTML,
        )

    return Guarded(user, attempt, action)


async def _web_recovery_codes(kit: Kit) -> Guarded:
    return await _web_asks_password_and_code(
        kit, "/account/mfa/recovery-codes", "auth.mfa_recovery_codes_renewed"
    )


async def _web_totp_disable(kit: Kit) -> Guarded:
    return await _web_asks_password_and_code(kit, "/account/mfa/disable", "auth.mfa_disabled")


SCENARIOS: dict[str, Callable[[Kit], Awaitable[Guarded]]] = {
    "POST /api/v1/auth/login": _api_login,
    "POST /api/v1/auth/password/change": _api_password_change,
    "POST /api/v1/me/email": _api_email_change,
    "POST /api/v1/auth/mfa/totp/disable": _api_totp_disable,
    "POST /api/v1/auth/mfa/recovery-codes": _api_recovery_codes,
    "POST /api/v1/auth/mfa/verify": _api_mfa_verify,
    "POST /api/v1/auth/passkeys/registration-options": _api_passkey_options,
    "POST /signin": _web_sign_in,
    "POST /signin/mfa": _web_mfa,
    "POST /account/password": _web_password_change,
    "POST /account/mfa/recovery-codes": _web_recovery_codes,
    "POST /account/mfa/disable": _web_totp_disable,
    "POST /account/passkeys/options": _web_passkey_options,
}


def test_every_route_that_checks_credentials_is_walked(app: FastAPI) -> None:
    assert checking_routes(app) == set(SCENARIOS)


async def _clear_limits(app: FastAPI, user: User) -> None:
    """Forget the rate-limit windows (as time passing would), so that what remains is the
    account's lock alone."""
    limiter = app.state.runtime.ratelimiter
    await limiter.clear(LOGIN_PER_ACCOUNT, "login-account", user.email)
    await limiter.clear(LOGIN_PER_IP, "login-ip", "127.0.0.1")
    await limiter.clear(MFA_PER_ACCOUNT, "mfa", str(user.id))


def _went_through(answer: httpx.Response) -> bool:
    return answer.is_success or answer.status_code == 303


def _refused_as_locked(answer: httpx.Response) -> bool:
    if answer.headers["content-type"].startswith("text/html"):  # a form shown again
        return not _went_through(answer) and "Too many" in answer.text
    return answer.status_code == 429 and int(answer.headers["retry-after"]) >= 1


@pytest.mark.parametrize("route", list(SCENARIOS))
async def test_wrong_guesses_lock_the_account_as_sign_in_does(
    route: str,
    app: FastAPI,
    client: httpx.AsyncClient,
    make_user: MakeUser,
    token_for: TokenFor,
    database: Database,
    settings: Settings,
) -> None:
    guarded = await SCENARIOS[route](Kit(app, client, make_user, token_for))
    await _clear_limits(app, guarded.user)

    for guess in range(settings.login_lock_threshold):
        wrong = await guarded.attempt(False)
        assert not _went_through(wrong), (guess, wrong.text)
        assert wrong.status_code in (401, 422), (guess, wrong.text)
    async with database.sessionmaker() as db:
        locked = await db.scalar(select(User.locked_until).where(User.id == guarded.user.id))
        lock_audited = await db.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(
                AuditEvent.resource_id == str(guarded.user.id),
                AuditEvent.outcome == "failure",
                AuditEvent.details["locked"].as_boolean(),
            )
        )
    assert locked is not None, "the wrong guesses did not lock the account"
    assert lock_audited == 1

    assert _refused_as_locked(await guarded.attempt(True))  # throttled, and locked
    await _clear_limits(app, guarded.user)
    right = await guarded.attempt(True)
    assert _refused_as_locked(right)  # the lock alone still refuses it
    if not right.headers["content-type"].startswith("text/html"):
        assert right.json()["code"] == "account_locked"
    async with database.sessionmaker() as db:
        through = await db.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(
                AuditEvent.resource_id == str(guarded.user.id),
                AuditEvent.action == guarded.action,
                AuditEvent.outcome == "success",
            )
        )
    assert through == 0

    await _clear_limits(app, guarded.user)
    sign_in = await client.post(LOGIN, json={"email": guarded.user.email, "password": PASSWORD})
    assert sign_in.status_code == 429, sign_in.text
    assert sign_in.json()["code"] == "account_locked"


async def test_one_client_shares_the_sign_in_limit_across_the_routes(
    client: httpx.AsyncClient, make_user: MakeUser, token_for: TokenFor
) -> None:
    """Guesses spread over many accounts from one client: the client's own limit holds on the
    routes that ask for the password again too."""
    user = await make_user(Role.patient)
    headers = await token_for(user)
    for n in range(30):  # LOGIN_PER_IP
        other = await client.post(
            LOGIN, json={"email": f"nobody-{n}@example.org", "password": WRONG_PASSWORD}
        )
        assert other.status_code == 401, other.text
    answer = await client.post(
        "/api/v1/auth/password/change",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=headers,
    )
    assert answer.status_code == 429, answer.text
    assert answer.json()["code"] == "rate_limited"
