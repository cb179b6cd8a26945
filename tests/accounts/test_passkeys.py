"""Passkeys through the API, answered by a software authenticator with a real key
(``tests.factories.passkeys``): registration behind the password, sign-in with a passkey alone,
the passkey as the second step, single-use challenges, origin and signature checks, a copied
key's counter, the staff policy, and rename/remove limited to one's own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pyotp
import pytest
from sqlalchemy import func, select

from carebridge.accounts.actors import StaffActor
from carebridge.accounts.models import Passkey, RecoveryCode, Role, User
from carebridge.app import create_app
from carebridge.compliance.models import AuditEvent
from carebridge.config import Settings
from carebridge.platform.db import Database
from tests.factories import PASSWORD, SignedIn, SignIn, serving
from tests.factories.passkeys import SoftKey, b64

PASSKEYS = "/api/v1/auth/passkeys"
OPTIONS = "/api/v1/auth/passkeys/sign-in-options"
SIGN_IN = "/api/v1/auth/passkeys/sign-in"
LOGIN = "/api/v1/auth/login"
VERIFY = "/api/v1/auth/mfa/verify"


def origin_of(settings: Settings) -> str:
    return settings.public_base_url


async def add_passkey(
    client: httpx.AsyncClient, me: SignedIn, key: SoftKey, name: str = "Laptop"
) -> dict[str, Any]:
    options = await client.post(
        f"{PASSKEYS}/registration-options", headers=me.headers, json={"password": PASSWORD}
    )
    assert options.status_code == 200, options.text
    added = await client.post(
        PASSKEYS,
        headers=me.headers,
        json={"name": name, "credential": key.create(options.json()["options"])},
    )
    assert added.status_code == 201, added.text
    body: dict[str, Any] = added.json()
    return body


async def sign_in_options(client: httpx.AsyncClient, **body: str) -> dict[str, Any]:
    response = await client.post(OPTIONS, json=body)
    assert response.status_code == 200, response.text
    options: dict[str, Any] = response.json()["options"]
    return options


async def test_add_a_passkey_behind_the_password_then_sign_in_with_it_alone(
    client: httpx.AsyncClient, sign_in: SignIn, settings: Settings, database: Database
) -> None:
    me = await sign_in()
    wrong = await client.post(
        f"{PASSKEYS}/registration-options", headers=me.headers, json={"password": "not-it"}
    )
    assert (wrong.status_code, wrong.json()["code"]) == (401, "invalid_credentials")

    key = SoftKey(origin_of(settings))
    first = await add_passkey(client, me, key, "Work laptop")
    assert first["passkey"]["name"] == "Work laptop"
    assert len(first["recovery_codes"]) == 10  # the first second factor turns two-step on

    options = await client.post(
        f"{PASSKEYS}/registration-options", headers=me.headers, json={"password": PASSWORD}
    )
    excluded = [c["id"] for c in options.json()["options"]["excludeCredentials"]]
    assert excluded == [b64(key.credential_id)]  # the same authenticator is not added twice
    assert options.json()["options"]["authenticatorSelection"]["residentKey"] == "required"
    second = await client.post(
        PASSKEYS,
        headers=me.headers,
        json={
            "name": "Phone",
            "credential": SoftKey(origin_of(settings)).create(options.json()["options"]),
        },
    )
    assert second.status_code == 201, second.text
    assert second.json()["recovery_codes"] is None
    listed = await client.get(PASSKEYS, headers=me.headers)
    # Oldest first (the browser test shows the order; here both share the test's transaction
    # time).
    assert sorted(p["name"] for p in listed.json()) == ["Phone", "Work laptop"]

    signed = await client.post(SIGN_IN, json={"credential": key.get(await sign_in_options(client))})
    assert signed.status_code == 200, signed.text
    tokens = signed.json()
    mine = await client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert mine.json()["id"] == str(me.user_id)

    async with database.transaction() as db:
        user = await db.get(User, me.user_id)
        assert user is not None
        assert user.passkey_count == 2
        logins = await db.scalars(
            select(AuditEvent.details).where(
                AuditEvent.actor_id == me.user_id, AuditEvent.action == "auth.login"
            )
        )
        assert any(d.get("method") == "passkey" for d in logins)
        stored = await db.scalar(select(Passkey).where(Passkey.user_id == me.user_id).limit(1))
        assert stored is not None
        assert stored.last_used_at is not None


async def test_an_answer_is_accepted_once_and_only_from_this_site_and_this_key(
    client: httpx.AsyncClient, sign_in: SignIn, settings: Settings
) -> None:
    me = await sign_in()
    key = SoftKey(origin_of(settings))
    await add_passkey(client, me, key)

    answer = key.get(await sign_in_options(client))
    assert (await client.post(SIGN_IN, json={"credential": answer})).status_code == 200
    again = await client.post(SIGN_IN, json={"credential": answer})
    assert (again.status_code, again.json()["code"]) == (401, "passkey_challenge_expired")

    elsewhere = key.get(await sign_in_options(client), origin="https://care.example.evil")
    refused = await client.post(SIGN_IN, json={"credential": elsewhere})
    assert (refused.status_code, refused.json()["code"]) == (401, "passkey_refused")

    forged = key.get(await sign_in_options(client))
    forged["response"]["signature"] = b64(b"\x30\x06\x02\x01\x01\x02\x01\x01")
    assert (await client.post(SIGN_IN, json={"credential": forged})).status_code == 401

    stranger = SoftKey(origin_of(settings), credential_id=b"not-registered-here")
    stranger.rp_id, stranger.user_handle = key.rp_id, key.user_handle
    unknown = await client.post(
        SIGN_IN, json={"credential": stranger.get(await sign_in_options(client))}
    )
    assert (unknown.status_code, unknown.json()["code"]) == (401, "passkey_refused")

    garbled = await client.post(
        SIGN_IN,
        json={"credential": {"id": "x", "rawId": "x", "type": "public-key", "response": {}}},
    )
    assert (garbled.status_code, garbled.json()["code"]) == (422, "invalid_passkey_response")


async def test_one_answer_sent_twice_at_once_signs_in_once(
    client: httpx.AsyncClient, sign_in: SignIn, settings: Settings
) -> None:
    me = await sign_in()
    key = SoftKey(origin_of(settings), counting=False)  # no counter: only the challenge stops it
    await add_passkey(client, me, key)
    answer = key.get(await sign_in_options(client))
    results = await asyncio.gather(
        *(client.post(SIGN_IN, json={"credential": answer}) for _ in range(2))
    )
    assert sorted(r.status_code for r in results) == [200, 401]


async def test_a_copied_key_whose_counter_went_back_is_refused_and_audited(
    client: httpx.AsyncClient, sign_in: SignIn, settings: Settings, database: Database
) -> None:
    me = await sign_in()
    key = SoftKey(origin_of(settings))
    await add_passkey(client, me, key)
    copy = key.clone()  # the same private key and counter, on another device
    ok = await client.post(SIGN_IN, json={"credential": key.get(await sign_in_options(client))})
    assert ok.status_code == 200
    cloned = await client.post(
        SIGN_IN, json={"credential": copy.get(await sign_in_options(client))}
    )
    assert (cloned.status_code, cloned.json()["code"]) == (401, "passkey_counter_regressed")
    still = await client.post(SIGN_IN, json={"credential": key.get(await sign_in_options(client))})
    assert still.status_code == 200  # the original goes on

    async with database.transaction() as db:
        reasons = await db.scalars(
            select(AuditEvent.details).where(
                AuditEvent.actor_id == me.user_id,
                AuditEvent.action == "auth.login",
                AuditEvent.outcome == "failure",
            )
        )
        assert [d["reason"] for d in reasons] == ["passkey_counter_regressed"]


async def test_a_passkey_as_the_second_step_after_the_password(
    client: httpx.AsyncClient, sign_in: SignIn, settings: Settings
) -> None:
    me = await sign_in()
    other = await sign_in()
    key, others_key = SoftKey(origin_of(settings)), SoftKey(origin_of(settings))
    codes = (await add_passkey(client, me, key))["recovery_codes"]
    await add_passkey(client, other, others_key)

    login = await client.post(LOGIN, json={"email": me.email, "password": PASSWORD})
    challenge = login.json()
    assert challenge["mfa_required"] is True
    assert "access_token" not in challenge
    assert challenge["methods"] == ["passkey", "recovery_code"]
    options = await sign_in_options(client, mfa_token=challenge["mfa_token"])
    assert [c["id"] for c in options["allowCredentials"]] == [b64(key.credential_id)]

    # Another account's passkey does not stand in for this account's.
    wrong = await client.post(
        VERIFY, json={"mfa_token": challenge["mfa_token"], "passkey": others_key.get(options)}
    )
    assert (wrong.status_code, wrong.json()["code"]) == (401, "passkey_refused")
    options = await sign_in_options(client, mfa_token=challenge["mfa_token"])
    done = await client.post(
        VERIFY, json={"mfa_token": challenge["mfa_token"], "passkey": key.get(options)}
    )
    assert done.status_code == 200, done.text
    assert done.json()["access_token"]

    # A recovery code stands in for a lost passkey.
    login = await client.post(LOGIN, json={"email": me.email, "password": PASSWORD})
    recovered = await client.post(
        VERIFY, json={"mfa_token": login.json()["mfa_token"], "recovery_code": codes[0]}
    )
    assert recovered.status_code == 200, recovered.text


async def test_rename_and_remove_only_ones_own_and_the_last_removal_turns_two_step_off(
    client: httpx.AsyncClient, sign_in: SignIn, settings: Settings, database: Database
) -> None:
    me = await sign_in()
    other = await sign_in()
    passkey_id = (await add_passkey(client, me, SoftKey(origin_of(settings))))["passkey"]["id"]

    for method, body in (("PATCH", {"name": "Mine now"}), ("DELETE", None)):
        theirs = await client.request(
            method, f"{PASSKEYS}/{passkey_id}", headers=other.headers, json=body
        )
        assert theirs.status_code == 404
    renamed = await client.patch(
        f"{PASSKEYS}/{passkey_id}", headers=me.headers, json={"name": "  Old phone "}
    )
    assert renamed.json()["name"] == "Old phone"
    blank = await client.patch(f"{PASSKEYS}/{passkey_id}", headers=me.headers, json={"name": " "})
    assert blank.status_code == 422

    removed = await client.delete(f"{PASSKEYS}/{passkey_id}", headers=me.headers)
    assert removed.status_code == 204
    login = await client.post(LOGIN, json={"email": me.email, "password": PASSWORD})
    assert "access_token" in login.json()  # no second factor left: the password signs in
    async with database.transaction() as db:
        codes = await db.scalar(
            select(func.count()).select_from(RecoveryCode).where(RecoveryCode.user_id == me.user_id)
        )
        user = await db.get(User, me.user_id)
    assert codes == 0
    assert user is not None
    assert user.passkey_count == 0


async def test_a_passkey_that_does_not_verify_its_user_cannot_be_added(
    client: httpx.AsyncClient, sign_in: SignIn, settings: Settings
) -> None:
    me = await sign_in()
    options = await client.post(
        f"{PASSKEYS}/registration-options", headers=me.headers, json={"password": PASSWORD}
    )
    key = SoftKey(origin_of(settings), verifies_user=False)
    added = await client.post(
        PASSKEYS,
        headers=me.headers,
        json={"name": "Key", "credential": key.create(options.json()["options"])},
    )
    assert (added.status_code, added.json()["code"]) == (422, "invalid_passkey_response")
    listed = await client.get(PASSKEYS, headers=me.headers)
    assert listed.json() == []


@pytest.fixture
async def passkey_staff_client(
    settings: Settings, database: Database
) -> AsyncIterator[httpx.AsyncClient]:
    strict = settings.model_copy(
        update={"require_mfa_for_staff": True, "staff_second_factor": "passkey"}
    )
    app = create_app(strict, database=database)

    @app.get("/api/v1/probe/staff")
    async def staff_only(actor: StaffActor) -> dict[str, str]:
        return {"id": str(actor.id)}

    async with serving(app) as client:
        yield client


async def test_a_clinic_can_require_passkeys_of_staff(
    passkey_staff_client: httpx.AsyncClient, sign_in: SignIn, settings: Settings
) -> None:
    client = passkey_staff_client
    doctor = await sign_in(Role.doctor)
    probe = "/api/v1/probe/staff"
    setup = await client.post("/api/v1/auth/mfa/totp/setup", headers=doctor.headers)
    secret = setup.json()["secret"]
    enabled = await client.post(
        "/api/v1/auth/mfa/totp/enable",
        headers=doctor.headers,
        json={"code": pyotp.TOTP(secret).at(time.time() - 30)},
    )
    assert enabled.status_code == 200, enabled.text
    app_only = await client.get(probe, headers=doctor.headers)  # an app is not enough here
    assert (app_only.status_code, app_only.json()["code"]) == (403, "mfa_enrollment_required")
    assert "passkey" in app_only.json()["detail"]

    key = SoftKey(origin_of(settings))
    passkey_id = (await add_passkey(client, doctor, key))["passkey"]["id"]
    assert (await client.get(probe, headers=doctor.headers)).status_code == 200

    login = await client.post(LOGIN, json={"email": doctor.email, "password": PASSWORD})
    assert login.json()["methods"] == ["passkey", "recovery_code"]
    by_app = await client.post(
        VERIFY,
        json={"mfa_token": login.json()["mfa_token"], "code": pyotp.TOTP(secret).now()},
    )
    assert (by_app.status_code, by_app.json()["code"]) == (403, "passkey_required")

    last = await client.delete(f"{PASSKEYS}/{passkey_id}", headers=doctor.headers)
    assert (last.status_code, last.json()["code"]) == (409, "last_second_factor")
    await add_passkey(client, doctor, SoftKey(origin_of(settings)), "Spare")
    spare_left = await client.delete(f"{PASSKEYS}/{passkey_id}", headers=doctor.headers)
    assert spare_left.status_code == 204


async def test_staff_keep_one_second_factor_of_either_kind(
    sign_in: SignIn, settings: Settings, database: Database
) -> None:
    strict = settings.model_copy(update={"require_mfa_for_staff": True})
    async with serving(create_app(strict, database=database)) as client:
        nurse = await sign_in(Role.nurse)
        passkey_id = (await add_passkey(client, nurse, SoftKey(origin_of(settings))))["passkey"]
        last = await client.delete(f"{PASSKEYS}/{passkey_id['id']}", headers=nurse.headers)
        assert (last.status_code, last.json()["code"]) == (409, "last_second_factor")
        login = await client.post(LOGIN, json={"email": nurse.email, "password": PASSWORD})
        assert login.json()["mfa_required"] is True  # the passkey counts as staff's factor


async def test_passkeys_need_a_domain_name(
    settings: Settings, database: Database, sign_in: SignIn
) -> None:
    at_ip = settings.model_copy(update={"public_base_url": "http://127.0.0.1:8000"})
    async with serving(create_app(at_ip, database=database)) as client:
        response = await client.post(OPTIONS, json={})
        assert (response.status_code, response.json()["code"]) == (409, "passkeys_unavailable")
        assert "localhost" in response.json()["detail"]
