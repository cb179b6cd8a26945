"""The audit trail of authentication, admin actions, and what responses never contain."""

from __future__ import annotations

import hashlib
import uuid

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from carebridge.accounts.actors import DoctorActor
from carebridge.accounts.models import RefreshToken, Role, User, UserStatus
from carebridge.compliance.models import AuditEvent
from carebridge.platform.db import Database
from tests.factories import PASSWORD, MakeUser, SignIn


async def audit_rows(database: Database, **where: object) -> list[AuditEvent]:
    async with database.sessionmaker() as db:
        statement = select(AuditEvent).order_by(AuditEvent.at)
        for column, value in where.items():
            statement = statement.where(getattr(AuditEvent, column) == value)
        return list((await db.scalars(statement)).all())


async def test_each_auth_event_writes_exactly_one_audit_row(
    client: httpx.AsyncClient, database: Database, make_user: MakeUser
) -> None:
    email = f"audit-{uuid.uuid4().hex[:6]}@example.org"
    registered = await client.post(
        "/api/v1/auth/register",
        json={"email": email, "password": PASSWORD, "name": "Aud It"},
        headers={"User-Agent": "audit-test", "X-Request-ID": "req-audit-1"},
    )
    user_id = registered.json()["id"]
    await client.post(
        "/api/v1/auth/login", json={"email": email, "password": "wrong-wrong-wrong-1"}
    )
    pair = (
        await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    ).json()
    rotated = (
        await client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    ).json()
    await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
    )  # reuse
    pair2 = (
        await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    ).json()
    await client.post(
        "/api/v1/auth/logout", headers={"Authorization": f"Bearer {pair2['access_token']}"}
    )
    assert rotated["access_token"]

    rows = await audit_rows(database, resource_id=user_id)
    session_rows = [
        r
        for r in await audit_rows(database, actor_id=uuid.UUID(user_id))
        if r.resource_type == "session"
    ]
    actions = [(r.action, r.outcome) for r in rows]
    assert actions == [
        ("auth.register", "success"),
        ("auth.login", "failure"),
        ("auth.login", "success"),
        ("auth.login", "success"),
    ]
    assert [(r.action, r.outcome) for r in session_rows] == [
        ("auth.refresh_reuse", "denied"),
        ("auth.logout", "success"),
    ]
    first = rows[0]
    assert (first.user_agent, first.request_id, first.ip) == (
        "audit-test",
        "req-audit-1",
        "127.0.0.1",
    )
    assert rows[1].details == {"reason": "wrong_password"}
    for row in rows + session_rows:
        assert PASSWORD not in str(row.details)


CHANGES = (
    text("UPDATE audit_events SET outcome = 'success' WHERE id = :id"),
    text("DELETE FROM audit_events WHERE id = :id"),
    text("TRUNCATE audit_events"),
)


async def test_the_database_refuses_to_change_or_delete_audit_rows(
    database: Database, make_user: MakeUser, client: httpx.AsyncClient
) -> None:
    """The application's role has no such privilege (tests/platform/test_database_roles.py
    tries the ways around it)."""
    user = await make_user()
    await client.post("/api/v1/auth/login", json={"email": user.email, "password": PASSWORD})
    (row,) = await audit_rows(database, resource_id=str(user.id))
    for statement in CHANGES:
        async with database.sessionmaker() as db:
            with pytest.raises(DBAPIError, match="permission denied for table audit_events"):
                await db.execute(statement, {"id": row.id})
            await db.rollback()
    assert len(await audit_rows(database, resource_id=str(user.id))) == 1


async def test_the_trigger_refuses_even_the_owner(owner_engine: AsyncEngine) -> None:
    """The second line: a role that may change the table (its owner) is refused by the trigger
    while the trigger is on."""
    async with owner_engine.connect() as owner:
        owned = await owner.scalar(
            insert(AuditEvent)
            .values(action="probe.owner", outcome="success")
            .returning(AuditEvent.id)
        )
        for statement in CHANGES:
            savepoint = await owner.begin_nested()
            with pytest.raises(DBAPIError, match="append-only"):
                await owner.execute(statement, {"id": owned})
            await savepoint.rollback()
        await owner.rollback()


async def test_no_response_of_the_auth_flow_leaks_a_secret(
    client: httpx.AsyncClient, database: Database, sign_in: SignIn
) -> None:
    admin = await sign_in(Role.admin)
    email = "leak-check@example.org"
    seen: list[httpx.Response] = []

    async def call(method: str, url: str, **kwargs: object) -> httpx.Response:
        response = await client.request(method, url, **kwargs)  # type: ignore[arg-type]
        seen.append(response)
        return response

    user = (
        await call(
            "POST",
            "/api/v1/auth/register",
            json={"email": email, "password": PASSWORD, "name": "Leak"},
        )
    ).json()
    pair = (
        await call("POST", "/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    ).json()
    headers = {"Authorization": f"Bearer {pair['access_token']}"}
    await call("GET", "/api/v1/me", headers=headers)
    await call("PATCH", "/api/v1/me", headers=headers, json={"name": "Leak Two"})
    await call("GET", "/api/v1/me/sessions", headers=headers)
    fresh = (
        await call("POST", "/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    ).json()
    await call("GET", "/api/v1/admin/users", headers=admin.headers)
    await call("POST", f"/api/v1/admin/users/{user['id']}/disable", headers=admin.headers)
    await call("GET", "/.well-known/jwks.json")
    assert fresh["refresh_token"]

    async with database.sessionmaker() as db:
        stored = await db.scalar(select(User).where(User.email == email))
        token_hashes = (await db.scalars(select(RefreshToken.token_hash))).all()
    assert stored is not None
    forbidden = [stored.password_hash, "$argon2", PASSWORD]
    forbidden += [h.hex() for h in token_hashes]
    forbidden += [hashlib.sha256(pair["refresh_token"].encode()).hexdigest()]
    for response in seen:
        for secret in forbidden:
            assert secret not in response.text, (response.request.url, secret[:12])


async def test_admin_routes_refuse_anonymous_and_other_roles(
    client: httpx.AsyncClient, sign_in: SignIn
) -> None:
    assert (await client.get("/api/v1/admin/users")).status_code == 401
    for role in (Role.patient, Role.doctor, Role.nurse):
        other = await sign_in(role)
        response = await client.get("/api/v1/admin/users", headers=other.headers)
        assert response.status_code == 403, role
        assert response.json()["code"] == "wrong_role"


async def test_admin_lists_users_with_filters_and_cursor_pages(
    client: httpx.AsyncClient, sign_in: SignIn, make_user: MakeUser
) -> None:
    admin = await sign_in(Role.admin)
    for i in range(5):
        await make_user(email=f"page-{i}@pages.example")
    seen: list[str] = []
    cursor = None
    while True:
        params = {"q": "pages.example", "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (
            await client.get("/api/v1/admin/users", params=params, headers=admin.headers)
        ).json()
        seen += [u["email"] for u in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == [f"page-{i}@pages.example" for i in range(5)]
    doctors = (
        await client.get("/api/v1/admin/users", params={"role": "doctor"}, headers=admin.headers)
    ).json()
    assert all(u["role"] == "doctor" for u in doctors["items"])
    bad = await client.get("/api/v1/admin/users", params={"cursor": "!!!"}, headers=admin.headers)
    assert (bad.status_code, bad.json()["code"]) == (422, "bad_cursor")


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    @app.get("/api/v1/probe/clinical")
    async def clinical(actor: DoctorActor) -> dict[str, str]:
        return {"doctor": str(actor.id)}

    return app


async def test_clinical_actions_wait_for_admin_approval(
    client: httpx.AsyncClient, sign_in: SignIn
) -> None:
    admin = await sign_in(Role.admin)
    doctor = await sign_in(Role.doctor, UserStatus.pending)
    waiting = await client.get("/api/v1/probe/clinical", headers=doctor.headers)
    assert (waiting.status_code, waiting.json()["code"]) == (403, "approval_pending")
    patient = await sign_in()
    assert (await client.get("/api/v1/probe/clinical", headers=patient.headers)).status_code == 403
    not_clinician = await client.post(
        f"/api/v1/admin/users/{patient.user_id}/approve", headers=admin.headers
    )
    assert (not_clinician.status_code, not_clinician.json()["code"]) == (409, "not_a_clinician")

    approved = await client.post(
        f"/api/v1/admin/users/{doctor.user_id}/approve", headers=admin.headers
    )
    assert approved.status_code == 200
    assert approved.json()["status"] == "active"
    assert approved.json()["approved_at"] is not None
    assert (await client.get("/api/v1/probe/clinical", headers=doctor.headers)).status_code == 200
    missing = await client.post(
        f"/api/v1/admin/users/{uuid.uuid4()}/approve", headers=admin.headers
    )
    assert missing.status_code == 404
    self_disable = await client.post(
        f"/api/v1/admin/users/{admin.user_id}/disable", headers=admin.headers
    )
    assert self_disable.json()["code"] == "cannot_disable_self"


async def test_an_admin_cannot_disable_their_own_account(
    client: httpx.AsyncClient, database: Database, sign_in: SignIn
) -> None:
    admin = await sign_in(Role.admin)
    refused = await client.post(
        f"/api/v1/admin/users/{admin.user_id}/disable", headers=admin.headers
    )
    assert refused.status_code == 409
    assert refused.json()["code"] == "cannot_disable_self"
    assert refused.json()["detail"] == "You cannot disable your own account."
    me = await client.get("/api/v1/me", headers=admin.headers)
    assert me.status_code == 200  # still signed in
    assert me.json()["status"] == "active"
    assert await audit_rows(database, action="admin.user_disabled", actor_id=admin.user_id) == []


async def test_mfa_reset_keys_and_disable_each_write_one_audit_row(
    client: httpx.AsyncClient, database: Database, sign_in: SignIn
) -> None:
    import time
    from datetime import timedelta

    import pyotp

    from carebridge.accounts import links
    from carebridge.accounts.models import TokenPurpose

    admin = await sign_in(Role.admin)
    me = await sign_in()
    secret = (await client.post("/api/v1/auth/mfa/totp/setup", headers=me.headers)).json()["secret"]
    totp = pyotp.TOTP(secret)
    await client.post(
        "/api/v1/auth/mfa/totp/enable", headers=me.headers, json={"code": totp.at(time.time() - 30)}
    )
    challenge = (
        await client.post("/api/v1/auth/login", json={"email": me.email, "password": PASSWORD})
    ).json()
    await client.post(
        "/api/v1/auth/mfa/verify", json={"mfa_token": challenge["mfa_token"], "code": "000000"}
    )
    await client.post(
        "/api/v1/auth/mfa/verify", json={"mfa_token": challenge["mfa_token"], "code": totp.now()}
    )
    async with database.transaction() as db:
        token = await links.issue(db, me.user_id, TokenPurpose.reset_password, timedelta(minutes=5))
    await client.post(
        "/api/v1/auth/password/reset",
        json={"token": token, "new_password": "quiet-meadow-lantern-12"},
    )
    key = (
        await client.post(
            "/api/v1/admin/api-keys",
            headers=admin.headers,
            json={"name": "Lab", "scopes": ["appointments:read"]},
        )
    ).json()
    await client.delete(f"/api/v1/admin/api-keys/{key['id']}", headers=admin.headers)
    await client.post(f"/api/v1/admin/users/{me.user_id}/disable", headers=admin.headers)

    mine = [(r.action, r.outcome) for r in await audit_rows(database, resource_id=str(me.user_id))]
    assert mine == [
        ("auth.login", "success"),  # the factory's sign-in
        ("auth.mfa_enabled", "success"),
        ("auth.login", "mfa_required"),
        ("auth.mfa_verify", "failure"),
        ("auth.mfa_verify", "success"),
        ("auth.password_reset", "success"),
        ("admin.user_disabled", "success"),
    ]
    keys = [(r.action, r.actor_id) for r in await audit_rows(database, resource_id=key["id"])]
    assert keys == [
        ("admin.api_key_created", admin.user_id),
        ("admin.api_key_revoked", admin.user_id),
    ]


async def test_stored_second_factor_secrets_never_leave_the_server(
    client: httpx.AsyncClient, database: Database, sign_in: SignIn
) -> None:
    import time

    import pyotp

    from carebridge.accounts.models import RecoveryCode

    admin = await sign_in(Role.admin)
    me = await sign_in()
    setup = await client.post("/api/v1/auth/mfa/totp/setup", headers=me.headers)
    secret = setup.json()["secret"]  # shown to its owner once, at setup: that is its purpose
    enabled = await client.post(
        "/api/v1/auth/mfa/totp/enable",
        headers=me.headers,
        json={"code": pyotp.TOTP(secret).at(time.time() - 30)},
    )
    later = [
        enabled,
        await client.get("/api/v1/me", headers=me.headers),
        await client.get("/api/v1/admin/users", headers=admin.headers),
        await client.post("/api/v1/auth/login", json={"email": me.email, "password": PASSWORD}),
    ]
    async with database.sessionmaker() as db:
        user = await db.get(User, me.user_id)
        hashes = (
            await db.scalars(
                select(RecoveryCode.code_hash).where(RecoveryCode.user_id == me.user_id)
            )
        ).all()
    assert user is not None
    assert user.totp_secret is not None
    assert secret.encode() not in user.totp_secret  # encrypted at rest
    forbidden = [secret, user.totp_secret.hex(), *(h.hex() for h in hashes)]
    for response in later:
        for value in forbidden:
            assert value not in response.text, response.request.url
