"""Who is calling: the typed caller dependencies every authenticated route declares.

``AnyUser``, ``PatientActor``, ``DoctorActor``, ``NurseActor``, ``StaffActor`` and
``AdminActor`` are ``Annotated`` aliases; ``AnyDoctor`` and ``AnyNurse`` also admit clinicians
still waiting for approval (for what they do before it, such as filling in their profile). An
access token is accepted only while its session is live and its user not disabled, so revoking a
session or disabling a user takes effect on the next request.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.models import Role, UserStatus
from carebridge.accounts.policy import enrolment_advice, enrolment_missing
from carebridge.accounts.queries import LIVE_SESSION, SessionOfToken
from carebridge.accounts.tokens import InvalidToken, KeyStore, verify_access_token
from carebridge.config import Settings
from carebridge.platform.access import answers, caller
from carebridge.platform.deps import RuntimeDep, Session
from carebridge.platform.errors import Forbidden, Unauthenticated
from carebridge.platform.runtime import Runtime

# What the caller declarations answer before a route runs, listed by OpenAPI on each route.
_UNSIGNED = (401, "invalid_token")
_WRONG_ROLE = (403, "wrong_role")
_NO_MFA = (403, "mfa_enrollment_required")
_PENDING = (403, "approval_pending")

bearer = HTTPBearer(auto_error=False, description="An access token from /api/v1/auth/login")


@dataclass(frozen=True)
class Actor:
    id: uuid.UUID
    role: Role
    status: UserStatus
    session_id: uuid.UUID
    totp_enrolled: bool = False
    passkey_enrolled: bool = False


def key_store_of(request: Request, runtime: Runtime) -> KeyStore:
    """One key cache per application instance, sealing with the process's keyring."""
    store = getattr(request.app.state, "key_store", None)
    if store is None:
        store = request.app.state.key_store = KeyStore(runtime.settings, runtime.keyring)
    assert isinstance(store, KeyStore)
    return store


async def get_key_store(request: Request, runtime: RuntimeDep) -> KeyStore:
    return key_store_of(request, runtime)


Keys = Annotated[KeyStore, Depends(get_key_store)]


async def authenticate(db: AsyncSession, keys: KeyStore, token: str) -> Actor:
    claims = await verify_access_token(db, keys, token)
    params = SessionOfToken(claims.session_id, claims.user_id, datetime.now(UTC))
    # The first statement of a request: sent through SQLAlchemy (as hand-written SQL), so that it
    # begins the session's transaction itself instead of after a statement sent only to begin it
    # (platform.db.driver_connection); the route's own hand-written statements then go straight
    # to asyncpg inside that transaction.
    connection = await db.connection()
    found = await connection.exec_driver_sql(LIVE_SESSION.sql, LIVE_SESSION.args(params))
    row = found.mappings().first()
    if row is None:
        raise InvalidToken("The session of this token has ended; sign in again.")
    return Actor(
        id=claims.user_id,
        role=Role(row["role"]),
        status=UserStatus(row["status"]),
        session_id=claims.session_id,
        totp_enrolled=row["totp_enrolled"],
        passkey_enrolled=row["passkey_enrolled"],
    )


@caller
@answers(_UNSIGNED)
async def any_user(
    request: Request,
    db: Session,
    keys: Keys,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Actor:
    """Any signed-in user."""
    if credentials is None:
        if request.headers.get("x-api-key"):
            raise Unauthenticated(
                "This route does not accept API keys; sign in as a user.",
                code="api_key_not_accepted",
            )
        raise InvalidToken("Sign in first: send 'Authorization: Bearer <access token>'.")
    actor = await authenticate(db, keys, credentials.credentials)
    # For what is recorded after the route, such as the audit row of an error.
    request.state.actor = actor
    return actor


AnyUser = Annotated[Actor, Depends(any_user)]


def _require(
    actor: Actor, roles: frozenset[Role], *, approved: bool, settings: Settings | None = None
) -> Actor:
    """``actor`` if its role is one of ``roles``, its second factor is enrolled as the clinic's
    policy requires of staff (when ``settings`` are given) and, if ``approved``, it is active."""
    if actor.role not in roles:
        raise Forbidden("Your role may not do this.", code="wrong_role")
    if settings is not None and enrolment_missing(
        settings, actor.role, totp=actor.totp_enrolled, passkey=actor.passkey_enrolled
    ):
        raise Forbidden(enrolment_advice(settings, actor.role), code="mfa_enrollment_required")
    if approved and actor.status != UserStatus.active:
        raise Forbidden(
            "Your clinician account is waiting for approval by an administrator.",
            code="approval_pending",
        )
    return actor


@caller
@answers(_WRONG_ROLE)
async def patient_actor(actor: AnyUser) -> Actor:
    return _require(actor, frozenset({Role.patient}), approved=False)


@caller
@answers(_WRONG_ROLE, _NO_MFA, _PENDING)
async def doctor_actor(actor: AnyUser, runtime: RuntimeDep) -> Actor:
    return _require(actor, frozenset({Role.doctor}), approved=True, settings=runtime.settings)


@caller
@answers(_WRONG_ROLE, _NO_MFA, _PENDING)
async def nurse_actor(actor: AnyUser, runtime: RuntimeDep) -> Actor:
    return _require(actor, frozenset({Role.nurse}), approved=True, settings=runtime.settings)


@caller
@answers(_WRONG_ROLE, _NO_MFA, _PENDING)
async def staff_actor(actor: AnyUser, runtime: RuntimeDep) -> Actor:
    return _require(
        actor,
        frozenset({Role.doctor, Role.nurse, Role.admin}),
        approved=True,
        settings=runtime.settings,
    )


@caller
@answers(_WRONG_ROLE, _NO_MFA, _PENDING)
async def clinician_actor(actor: AnyUser, runtime: RuntimeDep) -> Actor:
    """A doctor or a nurse, approved: who cares for patients (an administrator does not)."""
    return _require(
        actor, frozenset({Role.doctor, Role.nurse}), approved=True, settings=runtime.settings
    )


@caller
@answers(_WRONG_ROLE, _NO_MFA)
async def admin_actor(actor: AnyUser, runtime: RuntimeDep) -> Actor:
    return _require(actor, frozenset({Role.admin}), approved=False, settings=runtime.settings)


@caller
@answers(_WRONG_ROLE, _NO_MFA)
async def any_doctor(actor: AnyUser, runtime: RuntimeDep) -> Actor:
    """A doctor, approved or still waiting for approval (who fills in the profile to be
    verified)."""
    return _require(actor, frozenset({Role.doctor}), approved=False, settings=runtime.settings)


@caller
@answers(_WRONG_ROLE, _NO_MFA)
async def any_nurse(actor: AnyUser, runtime: RuntimeDep) -> Actor:
    """A nurse, approved or still waiting for approval."""
    return _require(actor, frozenset({Role.nurse}), approved=False, settings=runtime.settings)


PatientActor = Annotated[Actor, Depends(patient_actor)]
AnyDoctor = Annotated[Actor, Depends(any_doctor)]
AnyNurse = Annotated[Actor, Depends(any_nurse)]
DoctorActor = Annotated[Actor, Depends(doctor_actor)]
NurseActor = Annotated[Actor, Depends(nurse_actor)]
StaffActor = Annotated[Actor, Depends(staff_actor)]
ClinicianActor = Annotated[Actor, Depends(clinician_actor)]
AdminActor = Annotated[Actor, Depends(admin_actor)]
