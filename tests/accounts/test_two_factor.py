"""Two-step sign-in with TOTP: enrolment, replay refusal, recovery codes, the challenge token."""

from __future__ import annotations

import asyncio
import time

import httpx
import pyotp
import pytest
from fastapi import FastAPI

from carebridge.accounts.actors import StaffActor
from carebridge.accounts.models import Role
from carebridge.app import create_app
from carebridge.config import Settings
from carebridge.platform.db import Database
from tests.factories import PASSWORD, Committed, SignedIn, SignIn

LOGIN = "/api/v1/auth/login"
VERIFY = "/api/v1/auth/mfa/verify"


def code_at(secret: str, offset_steps: int) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * offset_steps)


async def enrol(client: httpx.AsyncClient, me: SignedIn) -> tuple[str, list[str]]:
    setup = await client.post("/api/v1/auth/mfa/totp/setup", headers=me.headers)
    assert setup.status_code == 200, setup.text
    secret = setup.json()["secret"]
    enabled = await client.post(
        "/api/v1/auth/mfa/totp/enable", headers=me.headers, json={"code": code_at(secret, -1)}
    )
    assert enabled.status_code == 200, enabled.text
    return secret, enabled.json()["recovery_codes"]


async def password_step(client: httpx.AsyncClient, email: str) -> str:
    response = await client.post(LOGIN, json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    assert response.json()["mfa_required"] is True
    assert "access_token" not in response.json()
    return str(response.json()["mfa_token"])


async def test_enrolment_then_sign_in_with_a_code_each_code_once(
    client: httpx.AsyncClient, sign_in: SignIn
) -> None:
    me = await sign_in()
    setup = await client.post("/api/v1/auth/mfa/totp/setup", headers=me.headers)
    body = setup.json()
    assert body["otpauth_uri"].startswith("otpauth://totp/CareBridge:")
    assert body["qr_svg"].lstrip().startswith("<svg")
    wrong = await client.post(
        "/api/v1/auth/mfa/totp/enable", headers=me.headers, json={"code": "000000"}
    )
    assert (wrong.status_code, wrong.json()["code"]) == (422, "invalid_mfa_code")
    secret = body["secret"]
    enabled = await client.post(
        "/api/v1/auth/mfa/totp/enable", headers=me.headers, json={"code": code_at(secret, -1)}
    )
    codes = enabled.json()["recovery_codes"]
    assert len(codes) == len(set(codes)) == 10

    mfa_token = await password_step(client, me.email)
    far = await client.post(VERIFY, json={"mfa_token": mfa_token, "code": code_at(secret, 3)})
    assert (far.status_code, far.json()["code"]) == (401, "invalid_mfa_code")  # outside ±1 step
    current = code_at(secret, 0)
    ok = await client.post(VERIFY, json={"mfa_token": mfa_token, "code": current})
    assert ok.status_code == 200, ok.text
    access = {"Authorization": f"Bearer {ok.json()['access_token']}"}
    assert (await client.get("/api/v1/me", headers=access)).status_code == 200

    replay = await client.post(
        VERIFY, json={"mfa_token": await password_step(client, me.email), "code": current}
    )
    assert (replay.status_code, replay.json()["code"]) == (401, "invalid_mfa_code")


async def test_recovery_codes_work_once_each(client: httpx.AsyncClient, sign_in: SignIn) -> None:
    me = await sign_in()
    _, codes = await enrol(client, me)
    first = await client.post(
        VERIFY,
        json={
            "mfa_token": await password_step(client, me.email),
            "recovery_code": codes[0].upper(),
        },
    )
    assert first.status_code == 200
    again = await client.post(
        VERIFY, json={"mfa_token": await password_step(client, me.email), "recovery_code": codes[0]}
    )
    assert again.status_code == 401
    other = await client.post(
        VERIFY, json={"mfa_token": await password_step(client, me.email), "recovery_code": codes[1]}
    )
    assert other.status_code == 200


async def test_the_challenge_token_works_nowhere_else(
    client: httpx.AsyncClient, sign_in: SignIn
) -> None:
    me = await sign_in()
    await enrol(client, me)
    mfa_token = await password_step(client, me.email)
    bearer = {"Authorization": f"Bearer {mfa_token}"}
    for method, path in [
        ("GET", "/api/v1/me"),
        ("GET", "/api/v1/me/sessions"),
        ("POST", "/api/v1/auth/logout"),
        ("GET", "/api/v1/admin/users"),
        ("POST", "/api/v1/auth/mfa/totp/setup"),
        ("POST", "/api/v1/auth/logout-all"),
    ]:
        response = await client.request(method, path, headers=bearer)
        assert response.status_code == 401, path
    as_refresh = await client.post("/api/v1/auth/refresh", json={"refresh_token": mfa_token[:200]})
    assert as_refresh.status_code == 401
    access = await client.post(VERIFY, json={"mfa_token": me.access_token, "code": "123456"})
    assert (access.status_code, access.json()["code"]) == (401, "invalid_mfa_token")


async def test_disable_needs_password_and_code(client: httpx.AsyncClient, sign_in: SignIn) -> None:
    me = await sign_in()
    secret, _ = await enrol(client, me)
    wrong = await client.post(
        "/api/v1/auth/mfa/totp/disable",
        headers=me.headers,
        json={"password": "not-the-password-7", "code": code_at(secret, 0)},
    )
    assert wrong.status_code == 401
    ok = await client.post(
        "/api/v1/auth/mfa/totp/disable",
        headers=me.headers,
        json={"password": PASSWORD, "code": code_at(secret, 1)},
    )
    assert ok.status_code == 204
    plain = await client.post(LOGIN, json={"email": me.email, "password": PASSWORD})
    assert "access_token" in plain.json()


async def test_recovery_codes_are_renewed_with_password_and_code(
    client: httpx.AsyncClient, sign_in: SignIn
) -> None:
    me = await sign_in()
    renew = "/api/v1/auth/mfa/recovery-codes"
    before = await client.post(
        renew, headers=me.headers, json={"password": PASSWORD, "code": "123456"}
    )
    assert (before.status_code, before.json()["code"]) == (409, "mfa_not_enabled")
    secret, old_codes = await enrol(client, me)
    for password, code in (("not-the-password-7", code_at(secret, 0)), (PASSWORD, "000000")):
        wrong = await client.post(
            renew, headers=me.headers, json={"password": password, "code": code}
        )
        assert (wrong.status_code, wrong.json()["code"]) == (401, "invalid_credentials")
        assert wrong.json()["detail"] == "Wrong password or code."

    renewed = await client.post(
        renew, headers=me.headers, json={"password": PASSWORD, "code": code_at(secret, 0)}
    )
    assert renewed.status_code == 200, renewed.text
    new_codes = renewed.json()["recovery_codes"]
    assert len(new_codes) == 10
    assert not set(new_codes) & set(old_codes)
    old = await client.post(
        VERIFY,
        json={"mfa_token": await password_step(client, me.email), "recovery_code": old_codes[1]},
    )
    assert (old.status_code, old.json()["code"]) == (401, "invalid_mfa_code")
    new = await client.post(
        VERIFY,
        json={"mfa_token": await password_step(client, me.email), "recovery_code": new_codes[1]},
    )
    assert new.status_code == 200, new.text


async def test_the_same_code_sent_concurrently_is_accepted_once(committed: Committed) -> None:
    client, email = committed.client, committed.user.email
    pair = (await client.post(LOGIN, json={"email": email, "password": PASSWORD})).json()
    me = SignedIn(committed.user.id, email, pair["access_token"], pair["refresh_token"])
    secret, _ = await enrol(client, me)
    tokens = [await password_step(client, email) for _ in range(8)]
    code = code_at(secret, 0)
    results = await asyncio.gather(
        *(client.post(VERIFY, json={"mfa_token": t, "code": code}) for t in tokens)
    )
    assert sorted(r.status_code for r in results) == [200] + [401] * 7


async def test_password_reset_does_not_bypass_the_second_factor(
    client: httpx.AsyncClient, sign_in: SignIn, database: Database
) -> None:
    from datetime import timedelta

    from carebridge.accounts import links
    from carebridge.accounts.models import TokenPurpose

    me = await sign_in()
    await enrol(client, me)
    async with database.transaction() as db:
        token = await links.issue(db, me.user_id, TokenPurpose.reset_password, timedelta(minutes=5))
    reset = await client.post(
        "/api/v1/auth/password/reset",
        json={"token": token, "new_password": "orbit-walnut-candle-63"},
    )
    assert reset.status_code == 204
    after = await client.post(LOGIN, json={"email": me.email, "password": "orbit-walnut-candle-63"})
    assert after.json()["mfa_required"] is True


@pytest.fixture
def app(settings: Settings, database: Database) -> FastAPI:
    strict = settings.model_copy(update={"require_mfa_for_staff": True})
    app = create_app(strict, database=database)

    @app.get("/api/v1/probe/staff")
    async def staff_only(actor: StaffActor) -> dict[str, str]:
        return {"id": str(actor.id)}

    return app


async def test_staff_must_enrol_before_staff_actions_when_required(
    client: httpx.AsyncClient, sign_in: SignIn
) -> None:
    doctor = await sign_in(Role.doctor)
    login = await client.post(LOGIN, json={"email": doctor.email, "password": PASSWORD})
    assert login.json()["mfa_enrollment_required"] is True
    refused = await client.get("/api/v1/probe/staff", headers=doctor.headers)
    assert (refused.status_code, refused.json()["code"]) == (403, "mfa_enrollment_required")
    await enrol(client, doctor)
    assert (await client.get("/api/v1/probe/staff", headers=doctor.headers)).status_code == 200
    patient = await sign_in()
    patient_login = await client.post(LOGIN, json={"email": patient.email, "password": PASSWORD})
    assert patient_login.json()["mfa_enrollment_required"] is False
