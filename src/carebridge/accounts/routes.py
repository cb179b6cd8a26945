"""The accounts API: /api/v1/auth/*, /api/v1/me, /api/v1/admin/users."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from carebridge.accounts import admin, api_keys, email_flows, service, two_factor
from carebridge.accounts.actors import AdminActor, AnyUser, Keys
from carebridge.accounts.api_keys import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from carebridge.accounts.credentials import CheckCredentials
from carebridge.accounts.models import Role, UserStatus
from carebridge.accounts.schemas import (
    Accepted,
    Credentials,
    EmailChange,
    EmailOnly,
    LinkToken,
    MfaChallenge,
    MfaVerify,
    PasskeyAdd,
    PasskeyAdded,
    PasskeyOptions,
    PasskeyOut,
    PasskeyRegistrationStart,
    PasskeyRename,
    PasskeySignIn,
    PasskeySignInStart,
    PasswordChange,
    PasswordReset,
    ProfileUpdate,
    RecoveryCodes,
    RecoveryCodesRenewal,
    RefreshRequest,
    Registration,
    SessionOut,
    TokenPair,
    TotpCode,
    TotpDisable,
    TotpSetup,
    UserOut,
)
from carebridge.accounts.tokens import published_keys
from carebridge.platform.access import PUBLIC
from carebridge.platform.context import Context
from carebridge.platform.deps import RuntimeDep, Scope, Session
from carebridge.platform.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    RateLimited,
    Unauthenticated,
)
from carebridge.platform.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, PageOut
from carebridge.platform.problems import problem_responses

router = APIRouter()
auth = APIRouter(prefix="/auth", tags=["auth"])
me = APIRouter(prefix="/me", tags=["me"])
admin_users = APIRouter(prefix="/admin/users", tags=["admin"])
root_router = APIRouter(tags=["auth"], dependencies=[PUBLIC])

_AUTH_ERRORS = problem_responses(Unauthenticated)


@auth.post(
    "/register",
    status_code=201,
    response_model=UserOut,
    dependencies=[PUBLIC],
    responses=problem_responses(Conflict, Invalid, RateLimited),
)
async def register(body: Registration, db: Session, runtime: RuntimeDep, context: Context) -> Any:
    """Create a patient account, or a doctor/nurse account that waits for admin approval before
    clinical actions. When the clinic has published consent documents, `consents` names the
    current version of each required one for the role (`GET /consent-documents/current`).
    Codes: `email_taken`, `weak_password` (with the reason), `rate_limited`, `consent_required`,
    `unknown_consent_kind`, `consent_not_applicable`, `consent_version_not_current` (409)."""
    return await service.register(db, runtime.ratelimiter, runtime.settings, body, context)


@auth.post(
    "/login",
    response_model=TokenPair | MfaChallenge,
    dependencies=[PUBLIC],
    responses=problem_responses(Unauthenticated, Forbidden, RateLimited),
)
async def login(
    body: Credentials, db: Session, check: CheckCredentials
) -> TokenPair | MfaChallenge:
    """Exchange email and password for an access token (short-lived JWT) and a refresh token;
    with two-step sign-in on, for `{"mfa_required": true, "mfa_token": ...}` instead (send it
    with a code to `/auth/mfa/verify`).
    Codes: `invalid_credentials`, `account_disabled`, `account_locked` and `rate_limited`
    (both 429 with `Retry-After`)."""
    return await service.login(db, check, body)


@auth.post("/refresh", response_model=TokenPair, dependencies=[PUBLIC], responses=_AUTH_ERRORS)
async def refresh(body: RefreshRequest, db: Session, keys: Keys, context: Context) -> TokenPair:
    """Spend a refresh token for a new pair. Each refresh token works once: presenting a spent one
    ends its session (`refresh_token_reused`)."""
    return await service.refresh(db, keys, body.refresh_token, context)


@auth.post("/logout", status_code=204, responses=_AUTH_ERRORS)
async def logout(actor: AnyUser, db: Session, context: Context) -> Response:
    """End this session: its access and refresh tokens stop working at once."""
    await service.logout(db, actor, context)
    return Response(status_code=204)


@auth.post("/logout-all", status_code=204, responses=_AUTH_ERRORS)
async def logout_all(actor: AnyUser, db: Session, context: Context) -> Response:
    """End every session of this account, this one included."""
    await service.logout_all(db, actor, context)
    return Response(status_code=204)


@auth.post(
    "/password/change",
    response_model=TokenPair,
    responses=problem_responses(Unauthenticated, Invalid, RateLimited),
)
async def change_password(
    body: PasswordChange, actor: AnyUser, db: Session, check: CheckCredentials
) -> TokenPair:
    """Change the password (the current one is required). Every session ends; the answer holds
    a new pair for this device. A wrong current password counts towards the sign-in lock, and
    the route is throttled as sign-in is: `invalid_credentials`, `account_locked`,
    `rate_limited` (429 with `Retry-After`)."""
    return await service.change_password_and_resume(db, check, actor, body)


@me.get("", response_model=UserOut, responses=_AUTH_ERRORS)
async def get_me(actor: AnyUser, db: Session) -> Any:
    """The signed-in user's account."""
    return await service.get_me(db, actor)


@me.patch("", response_model=UserOut, responses=_AUTH_ERRORS)
async def update_me(body: ProfileUpdate, actor: AnyUser, db: Session) -> Any:
    """Change name, phone (E.164), time zone (IANA) or locale."""
    return await service.update_me(db, actor, body)


@me.get("/sessions", response_model=list[SessionOut], responses=_AUTH_ERRORS)
async def list_sessions(actor: AnyUser, db: Session) -> list[SessionOut]:
    """Signed-in devices of this account, most recently used first."""
    sessions = await service.list_sessions(db, actor)
    return [
        SessionOut.model_validate(s).model_copy(update={"current": s.id == actor.session_id})
        for s in sessions
    ]


@me.delete("/sessions/{session_id}", status_code=204, responses=problem_responses(NotFound))
async def revoke_session(
    session_id: uuid.UUID, actor: AnyUser, db: Session, context: Context
) -> Response:
    """Sign one device out."""
    await service.revoke_session(db, actor, session_id, context)
    return Response(status_code=204)


@me.post("/sessions/revoke-others", status_code=204, responses=_AUTH_ERRORS)
async def revoke_other_sessions(actor: AnyUser, db: Session, context: Context) -> Response:
    """Sign every other device out; this one stays signed in."""
    await service.revoke_other_sessions(db, actor, context)
    return Response(status_code=204)


@admin_users.get("", response_model=PageOut[UserOut], responses=problem_responses(Forbidden))
async def list_users(
    actor: AdminActor,
    db: Session,
    q: Annotated[str | None, Query(max_length=200, description="Part of email or name")] = None,
    role: Role | None = None,
    status: UserStatus | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
) -> Any:
    """Find users, newest first."""
    page = await admin.list_users(
        db, actor, query=q, role=role, status=status, cursor=cursor, limit=limit
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


@admin_users.post(
    "/{user_id}/disable", response_model=UserOut, responses=problem_responses(NotFound, Conflict)
)
async def disable_user(user_id: uuid.UUID, actor: AdminActor, db: Session, context: Context) -> Any:
    """Disable an account: all its sessions end at once."""
    return await admin.disable_user(db, actor, user_id, context)


@admin_users.post(
    "/{user_id}/enable", response_model=UserOut, responses=problem_responses(NotFound)
)
async def enable_user(user_id: uuid.UUID, actor: AdminActor, db: Session, context: Context) -> Any:
    """Enable a disabled account (a clinician not yet approved stays pending)."""
    return await admin.enable_user(db, actor, user_id, context)


@admin_users.post(
    "/{user_id}/approve", response_model=UserOut, responses=problem_responses(NotFound, Conflict)
)
async def approve_user(user_id: uuid.UUID, actor: AdminActor, db: Session, context: Context) -> Any:
    """Approve a doctor or nurse account for clinical actions."""
    return await admin.approve_clinician(db, actor, user_id, context)


@root_router.get("/.well-known/jwks.json")
async def jwks(db: Session, runtime: RuntimeDep) -> dict[str, list[dict[str, Any]]]:
    """Public keys that verify CareBridge access tokens (JWKS, RFC 7517)."""
    return {"keys": await published_keys(db, runtime.settings)}


@auth.post(
    "/verify-email",
    response_model=UserOut,
    dependencies=[PUBLIC],
    responses=problem_responses(Invalid, Conflict),
)
async def verify_email(body: LinkToken, db: Session, context: Context) -> Any:
    """Confirm an email address with the token from the emailed link (also completes an email
    change). Code `invalid_link` when used, expired or unknown."""
    return await email_flows.verify_email(db, body.token, context)


@auth.post(
    "/verify-email/resend",
    status_code=202,
    response_model=Accepted,
    dependencies=[PUBLIC],
    responses=problem_responses(RateLimited),
)
async def resend_verification(
    body: EmailOnly, db: Session, runtime: RuntimeDep, context: Context
) -> Accepted:
    """Email a new verification link. The answer is the same whether or not the address has an
    account."""
    await email_flows.resend_verification(db, runtime.ratelimiter, str(body.email), context)
    return Accepted(detail="If this address has an unverified account, a new link is on its way.")


@auth.post(
    "/password/forgot",
    status_code=202,
    response_model=Accepted,
    dependencies=[PUBLIC],
    responses=problem_responses(RateLimited),
)
async def forgot_password(
    body: EmailOnly, db: Session, runtime: RuntimeDep, context: Context
) -> Accepted:
    """Email a password reset link (valid 30 minutes, single use). The answer is the same
    whether or not the address has an account."""
    await email_flows.forgot_password(db, runtime.ratelimiter, str(body.email), context)
    return Accepted(detail="If this address has an account, a reset link is on its way.")


@auth.post(
    "/password/reset",
    status_code=204,
    dependencies=[PUBLIC],
    responses=problem_responses(Invalid),
)
async def reset_password(
    body: PasswordReset, db: Session, runtime: RuntimeDep, context: Context
) -> Response:
    """Set a new password with the token from the emailed link. Every session ends; sign in
    again (with the second factor, if enabled)."""
    await email_flows.reset_password(db, runtime.settings, body, context)
    return Response(status_code=204)


@me.post(
    "/email",
    status_code=202,
    response_model=Accepted,
    responses=problem_responses(Unauthenticated, Conflict, RateLimited),
)
async def change_email(
    body: EmailChange, actor: AnyUser, db: Session, check: CheckCredentials
) -> Accepted:
    """Ask to change the account's email (the current password is required, checked as at
    sign-in: a wrong one counts towards the lock; `account_locked`, `rate_limited`). A link goes
    to the new address; the change takes effect when it is opened."""
    await email_flows.request_email_change(db, check, actor, body)
    return Accepted(detail="Open the link we sent to the new address to finish the change.")


@auth.post(
    "/mfa/verify",
    response_model=TokenPair,
    dependencies=[PUBLIC],
    responses=problem_responses(Unauthenticated, Invalid, RateLimited),
)
async def verify_mfa(body: MfaVerify, db: Session, check: CheckCredentials) -> TokenPair:
    """Second sign-in step: the `mfa_token` from login plus one of the `methods` it named: a
    `passkey` (the answer to `/auth/passkeys/sign-in-options` with the token), a 6-digit `code`
    from the authenticator app (each code works once) or a `recovery_code` (each works once).
    Codes: `invalid_mfa_token`, `invalid_mfa_code`, `passkey_refused`, `passkey_required` (staff
    of a clinic that requires passkeys), `account_locked`."""
    return await two_factor.verify_mfa(db, check, body)


@auth.post("/mfa/totp/setup", response_model=TotpSetup, responses=problem_responses(Conflict))
async def totp_setup(actor: AnyUser, db: Session, keys: Keys) -> TotpSetup:
    """Start two-step sign-in: a secret to scan (QR as SVG) or type into an authenticator app.
    Not in force until enabled with a code."""
    return await two_factor.totp_setup(db, keys, actor)


@auth.post(
    "/mfa/totp/enable",
    response_model=RecoveryCodes,
    responses=problem_responses(Conflict, Invalid),
)
async def totp_enable(
    body: TotpCode, actor: AnyUser, db: Session, keys: Keys, context: Context
) -> RecoveryCodes:
    """Turn two-step sign-in on with a code from the app. Answers ten single-use recovery
    codes, shown this once."""
    return await two_factor.totp_enable(db, keys, actor, body.code, context)


@auth.post(
    "/mfa/totp/disable",
    status_code=204,
    responses=problem_responses(Conflict, Unauthenticated, RateLimited),
)
async def totp_disable(
    body: TotpDisable, actor: AnyUser, db: Session, check: CheckCredentials
) -> Response:
    """Turn two-step sign-in off: needs the password and a current code (or a recovery code).
    Both are checked as at sign-in: wrong ones count towards the lock (`account_locked`,
    `rate_limited`)."""
    await two_factor.totp_disable(db, check, actor, body)
    return Response(status_code=204)


@auth.post(
    "/mfa/recovery-codes",
    response_model=RecoveryCodes,
    responses=problem_responses(Conflict, Unauthenticated, RateLimited),
)
async def renew_recovery_codes(
    body: RecoveryCodesRenewal, actor: AnyUser, db: Session, check: CheckCredentials
) -> RecoveryCodes:
    """Replace the recovery codes: answers ten new single-use codes, shown this once; the old
    ones stop working. Needs the password and a current code (or an old recovery code), both
    checked as at sign-in: wrong ones count towards the lock (`invalid_credentials`, which does
    not say which was wrong; `account_locked`, `rate_limited`; `mfa_not_enabled`)."""
    return await two_factor.renew_recovery_codes(db, check, actor, body)


# -- passkeys ------------------------------------------------------------------------------------


@auth.post(
    "/passkeys/registration-options",
    response_model=PasskeyOptions,
    responses=problem_responses(Unauthenticated, Conflict, RateLimited),
)
async def passkey_registration_options(
    body: PasskeyRegistrationStart, actor: AnyUser, db: Session, check: CheckCredentials
) -> PasskeyOptions:
    """Start adding a passkey: the password (checked as at sign-in; a wrong one counts towards
    the lock), then options for `navigator.credentials.create()`, valid five minutes. Codes:
    `invalid_credentials`, `too_many_passkeys`, `passkeys_unavailable` (the public URL is an IP
    address)."""
    return await two_factor.passkey_registration_options(db, check, actor, body)


@auth.post(
    "/passkeys",
    status_code=201,
    response_model=PasskeyAdded,
    responses=problem_responses(Unauthenticated, Conflict, Invalid),
)
async def add_passkey(body: PasskeyAdd, actor: AnyUser, db: Session, scope: Scope) -> PasskeyAdded:
    """Store the passkey the browser made from the registration options. The account's first
    second factor turns two-step sign-in on and answers ten recovery codes, shown this once.
    Codes: `invalid_passkey_response`, `passkey_challenge_expired`, `passkey_already_registered`."""
    return await two_factor.add_passkey(db, scope, actor, body)


@auth.get("/passkeys", response_model=list[PasskeyOut], responses=_AUTH_ERRORS)
async def list_passkeys(actor: AnyUser, db: Session) -> list[PasskeyOut]:
    """The caller's passkeys, oldest first."""
    return await two_factor.list_passkeys(db, actor)


@auth.patch(
    "/passkeys/{passkey_id}",
    response_model=PasskeyOut,
    responses=problem_responses(Unauthenticated, NotFound),
)
async def rename_passkey(
    passkey_id: uuid.UUID, body: PasskeyRename, actor: AnyUser, db: Session, scope: Scope
) -> PasskeyOut:
    return await two_factor.rename_passkey(db, scope, actor, passkey_id, body)


@auth.delete(
    "/passkeys/{passkey_id}",
    status_code=204,
    responses=problem_responses(Unauthenticated, NotFound, Conflict),
)
async def remove_passkey(
    passkey_id: uuid.UUID, actor: AnyUser, db: Session, scope: Scope
) -> Response:
    """Remove a passkey. Staff cannot remove the last second factor the clinic requires of them
    (`last_second_factor`); without any second factor left two-step sign-in is off."""
    await two_factor.remove_passkey(db, scope, actor, passkey_id)
    return Response(status_code=204)


@auth.post(
    "/passkeys/sign-in-options",
    response_model=PasskeyOptions,
    dependencies=[PUBLIC],
    responses=problem_responses(Unauthenticated, Conflict, RateLimited),
)
async def passkey_sign_in_options(
    body: PasskeySignInStart, db: Session, keys: Keys, runtime: RuntimeDep, scope: Scope
) -> PasskeyOptions:
    """Options for `navigator.credentials.get()`, valid five minutes: with the `mfa_token` of
    `/auth/login`, for the second step (the account's passkeys; answer at `/auth/mfa/verify` as
    `passkey`); without it, to sign in with a passkey alone (answer at `/auth/passkeys/sign-in`)."""
    if body.mfa_token is not None:
        return await two_factor.passkey_second_step_options(db, keys, body.mfa_token)
    return await two_factor.passkey_sign_in_options(db, scope, runtime.ratelimiter)


@auth.post(
    "/passkeys/sign-in",
    response_model=TokenPair,
    dependencies=[PUBLIC],
    responses=problem_responses(Unauthenticated, Forbidden, Invalid, RateLimited),
)
async def passkey_sign_in(
    body: PasskeySignIn, db: Session, keys: Keys, runtime: RuntimeDep, scope: Scope
) -> TokenPair:
    """Sign in with a passkey alone (it verifies its user, so it is both factors). Codes:
    `passkey_refused`, `passkey_challenge_expired`, `passkey_counter_regressed` (the passkey's
    counter went backwards, as a copied key's does), `account_disabled`."""
    user = await two_factor.passkey_sign_in(db, scope, runtime.ratelimiter, body)
    return await service.start_session(db, keys, user, scope.origin)


admin_keys = APIRouter(prefix="/admin/api-keys", tags=["admin"])


@admin_keys.get("", response_model=list[ApiKeyOut], responses=problem_responses(Forbidden))
async def list_api_keys(actor: AdminActor, db: Session) -> Any:
    """API keys of external systems (without the keys themselves)."""
    return await api_keys.list_keys(db)


@admin_keys.post(
    "", status_code=201, response_model=ApiKeyCreated, responses=problem_responses(Forbidden)
)
async def create_api_key(
    body: ApiKeyCreate, actor: AdminActor, db: Session, context: Context
) -> ApiKeyCreated:
    """Create a scoped key for an external system. The `key` is in this answer only."""
    return await api_keys.create_key(db, actor, body, context)


@admin_keys.delete("/{key_id}", status_code=204, responses=problem_responses(NotFound))
async def revoke_api_key(
    key_id: uuid.UUID, actor: AdminActor, db: Session, context: Context
) -> Response:
    """Revoke a key: it stops working at once."""
    await api_keys.revoke_key(db, actor, key_id, context)
    return Response(status_code=204)


router.include_router(auth)
router.include_router(me)
router.include_router(admin_users)
router.include_router(admin_keys)
