"""Account pages: sign-up, sign-in (with the second step), password reset, email verification,
the account page, and the admin user list. Forms post back to the same services as the API."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import JSONResponse, Response

from carebridge.accounts import admin, email_flows, passkeys, service, two_factor
from carebridge.accounts.actors import Actor, Keys, key_store_of
from carebridge.accounts.credentials import CheckCredentials
from carebridge.accounts.models import Role, User
from carebridge.accounts.policy import enrolment_missing
from carebridge.accounts.schemas import (
    Credentials,
    MfaVerify,
    PasskeyAdd,
    PasskeyCredential,
    PasskeyOptions,
    PasskeyRegistrationStart,
    PasskeyRename,
    PasskeySignIn,
    PasswordChange,
    PasswordReset,
    ProfileUpdate,
    Registration,
    TotpDisable,
)
from carebridge.accounts.tokens import KeyStore
from carebridge.compliance import consent
from carebridge.compliance.consent_schemas import ConsentDocumentOut
from carebridge.platform.access import PUBLIC
from carebridge.platform.context import CallScope, Context
from carebridge.platform.db import undo_unless_kept
from carebridge.platform.deps import RuntimeDep, Scope, Session, get_runtime
from carebridge.platform.errors import CareBridgeError, Invalid
from carebridge.web.consents import choices_of_form
from carebridge.web.forms import PLAIN, FormLanguage, filled
from carebridge.web.pages import redirect, render, safe_next
from carebridge.web.session import (
    MFA_COOKIE,
    Csrf,
    CsrfHeader,
    WebAdmin,
    WebUser,
    WebVisitor,
    clear_session_cookie,
    secure_cookies,
    set_session_cookie,
    start_web_session,
)

router = APIRouter(include_in_schema=False)
FormStr = Annotated[str, Form()]


def _keys(request: Request, runtime: RuntimeDep) -> KeyStore:
    return key_store_of(request, runtime)


# The forms' own words for their fields (the others are called as the schema names them:
# "Email", "Password", "Time zone", "Current password").
SIGN_UP = FormLanguage({"name": "Full name"})


def _error(exc: Exception, language: FormLanguage = PLAIN) -> str:
    return language.explain(exc)


def _status(exc: Exception) -> int:
    return exc.status if isinstance(exc, CareBridgeError) else 422


PASSKEY = FormLanguage({"name": "Passkey name"})


def passkey_answer(text: str) -> dict[str, Any]:
    """A passkey's answer posted in a form field (JSON written by static/js/passkeys.js)."""
    try:
        value = json.loads(text)
        if not isinstance(value, dict):
            raise TypeError
        return PasskeyCredential.model_validate(value).as_json()
    except (ValueError, TypeError) as exc:
        raise Invalid(
            "The passkey's answer could not be read; try again.", code="invalid_passkey_response"
        ) from exc


async def _json_options(db: Session, options: Awaitable[PasskeyOptions]) -> Response:
    """Options for the page's script, or the problem as JSON (``detail``, ``code``): a wrong
    password still counts towards the account's lock."""
    try:
        return JSONResponse((await options).model_dump())
    except CareBridgeError as exc:
        await undo_unless_kept(db, exc)
        problem = {"detail": exc.detail, "code": exc.error_code}
        return JSONResponse(problem, status_code=exc.status, headers=exc.headers)


# -- sign-up and sign-in -----------------------------------------------------------------------


async def _signup_documents(db: Session) -> list[ConsentDocumentOut]:
    """The current consent documents, for every role (the form says which are for patients)."""
    return [consent.document_out(d) for d in await consent.current_documents(db)]


async def _accepted_on_form(db: Session, role: str, values: list[str]) -> list[dict[str, Any]]:
    """The ticked documents that apply to the chosen role (a doctor who ticked a box for
    patients accepted nothing by it)."""
    documents = await consent.current_documents(db, Role(role)) if role in set(Role) else []
    applicable = {(d.kind, d.version) for d in documents}
    chosen = {(c.kind.value, c.version) for c in choices_of_form(values)}
    return [{"kind": k, "version": v} for k, v in sorted(chosen & applicable)]


@router.get("/signup", dependencies=[PUBLIC])
async def signup_page(request: Request, actor: WebVisitor, db: Session) -> Response:
    documents = await _signup_documents(db)
    return render(request, "accounts/signup.html", actor, documents=documents)


@router.post("/signup", dependencies=[PUBLIC, Csrf])
async def signup(
    request: Request,
    db: Session,
    runtime: RuntimeDep,
    context: Context,
    name: FormStr = "",
    email: FormStr = "",
    password: FormStr = "",
    role: FormStr = "patient",
    time_zone: FormStr = "UTC",
    consent_given: Annotated[list[str] | None, Form(alias="consent")] = None,
) -> Response:
    try:
        accepted = await _accepted_on_form(db, role, consent_given or [])
        fields = filled(name=name, email=email, password=password, role=role, time_zone=time_zone)
        body = Registration.model_validate({**fields, "consents": accepted})
        await service.register(db, runtime.ratelimiter, runtime.settings, body, context)
    except (CareBridgeError, ValueError) as exc:
        await undo_unless_kept(db, exc)
        return render(
            request,
            "accounts/signup.html",
            error=_error(exc, SIGN_UP),
            status_code=422,
            form={"name": name, "email": email, "role": role},
            documents=await _signup_documents(db),
        )
    return redirect("/signin?registered=1")


@router.get("/signin", dependencies=[PUBLIC])
async def signin_page(
    request: Request,
    actor: WebVisitor,
    runtime: RuntimeDep,
    next: str | None = None,
    registered: int = 0,
    reset: int = 0,
) -> Response:
    notice = None
    if registered:
        notice = "Your account is ready. We sent you a link to confirm your email address."
    if reset:
        notice = "Your password was changed. Sign in with the new one."
    return render(
        request,
        "accounts/signin.html",
        actor,
        next=safe_next(next),
        notice=notice,
        passkeys=passkeys.available(runtime.settings),
    )


@router.post("/signin", dependencies=[PUBLIC, Csrf])
async def signin(
    request: Request,
    db: Session,
    runtime: RuntimeDep,
    context: Context,
    check: CheckCredentials,
    email: FormStr = "",
    password: FormStr = "",
    next: FormStr = "/home",
) -> Response:
    try:
        credentials = Credentials.model_validate(filled(email=email, password=password))
        user, challenge = await service.first_factor(db, check, credentials)
    except (CareBridgeError, ValueError) as exc:
        await undo_unless_kept(db, exc)  # a failed attempt still counts
        return render(
            request,
            "accounts/signin.html",
            error=_error(exc),
            next=safe_next(next),
            email=email,
            passkeys=passkeys.available(runtime.settings),
            status_code=401 if isinstance(exc, CareBridgeError) else 422,
        )
    if challenge is not None:
        response = redirect(f"/signin/mfa?next={safe_next(next)}")
        response.set_cookie(
            MFA_COOKIE,
            challenge.mfa_token,
            max_age=300,
            httponly=True,
            secure=secure_cookies(runtime.settings),
            samesite="lax",
            path="/signin",
        )
        return response
    return await _signed_in(db, runtime, user, context, safe_next(next))


async def _signed_in(
    db: Session, runtime: RuntimeDep, user: User, context: Context, target: str
) -> Response:
    scope = CallScope(runtime.settings, runtime.keyring, context)
    token = await start_web_session(db, scope, user)
    if enrolment_missing(
        runtime.settings, user.role, totp=user.mfa_enabled, passkey=user.passkey_count > 0
    ):
        target = "/account?enrol=1#mfa"  # staff enrol the second factor before anything else
    response = redirect(target)
    set_session_cookie(response, runtime.settings, token)
    response.delete_cookie(MFA_COOKIE, path="/signin")
    return response


async def _mfa_page(
    request: Request,
    db: Session,
    keys: KeyStore,
    next: str | None,
    status_code: int = 200,
    **values: Any,
) -> Response:
    token = request.cookies.get(MFA_COOKIE, "")
    try:
        methods = await two_factor.second_step_methods(db, keys, token)
    except CareBridgeError:
        return redirect("/signin")  # the password step expired: start again
    return render(
        request,
        "accounts/signin_mfa.html",
        next=safe_next(next),
        methods=methods,
        status_code=status_code,
        **values,
    )


@router.get("/signin/mfa", dependencies=[PUBLIC])
async def mfa_page(request: Request, db: Session, keys: Keys, next: str | None = None) -> Response:
    return await _mfa_page(request, db, keys, next)


@router.post("/signin/mfa", dependencies=[PUBLIC, Csrf])
async def mfa_verify(
    request: Request,
    db: Session,
    runtime: RuntimeDep,
    context: Context,
    check: CheckCredentials,
    code: FormStr = "",
    recovery_code: FormStr = "",
    passkey: FormStr = "",
    next: FormStr = "/home",
) -> Response:
    """The second step: a code, a recovery code, or the passkey's answer (``passkey``, filled
    by static/js/passkeys.js)."""
    token = request.cookies.get(MFA_COOKIE)
    if not token:
        return redirect("/signin")
    try:
        body = MfaVerify(
            mfa_token=token,
            code=code or None,
            recovery_code=recovery_code or None,
            passkey=passkey_answer(passkey) if passkey else None,
        )
        user = await two_factor.second_factor(db, check, body)
    except (CareBridgeError, ValueError) as exc:
        await undo_unless_kept(db, exc)
        return await _mfa_page(request, db, check.keys, next, _status(exc), error=_error(exc))
    return await _signed_in(db, runtime, user, context, safe_next(next))


@router.post("/signin/mfa/passkey-options", dependencies=[PUBLIC, CsrfHeader])
async def mfa_passkey_options(request: Request, db: Session, keys: Keys) -> Response:
    """The second step's passkey options, for the script of the page (JSON)."""
    token = request.cookies.get(MFA_COOKIE, "")
    return await _json_options(db, two_factor.passkey_second_step_options(db, keys, token))


@router.post("/signin/passkey-options", dependencies=[PUBLIC, CsrfHeader])
async def signin_passkey_options(db: Session, runtime: RuntimeDep, scope: Scope) -> Response:
    """Options to sign in with a passkey alone, for the script of the sign-in page (JSON)."""
    limiter = runtime.ratelimiter
    return await _json_options(db, two_factor.passkey_sign_in_options(db, scope, limiter))


@router.post("/signin/passkey", dependencies=[PUBLIC, Csrf])
async def signin_passkey(
    request: Request,
    db: Session,
    runtime: RuntimeDep,
    scope: Scope,
    credential: FormStr = "",
    next: FormStr = "/home",
) -> Response:
    """Sign in with a passkey alone: the form's ``credential`` is the passkey's answer."""
    try:
        body = PasskeySignIn(credential=passkey_answer(credential))
        user = await two_factor.passkey_sign_in(db, scope, runtime.ratelimiter, body)
    except (CareBridgeError, ValueError) as exc:
        await undo_unless_kept(db, exc)
        return render(
            request,
            "accounts/signin.html",
            error=_error(exc),
            next=safe_next(next),
            passkeys=passkeys.available(runtime.settings),
            status_code=_status(exc),
        )
    return await _signed_in(db, runtime, user, scope.origin, safe_next(next))


@router.post("/signout", dependencies=[Csrf])
async def signout(actor: WebUser, db: Session, context: Context) -> Response:
    await service.logout(db, actor, context)
    response = redirect("/")
    clear_session_cookie(response)
    return response


# -- links from emails ------------------------------------------------------------------------


@router.get("/forgot-password", dependencies=[PUBLIC])
async def forgot_page(request: Request, actor: WebVisitor) -> Response:
    return render(request, "accounts/forgot.html", actor)


@router.post("/forgot-password", dependencies=[PUBLIC, Csrf])
async def forgot(
    request: Request, db: Session, runtime: RuntimeDep, context: Context, email: FormStr
) -> Response:
    try:
        await email_flows.forgot_password(db, runtime.ratelimiter, email, context)
    except CareBridgeError as exc:
        await undo_unless_kept(db, exc)
        return render(request, "accounts/forgot.html", error=_error(exc), status_code=exc.status)
    return render(
        request,
        "accounts/forgot.html",
        notice="If this address has an account, a reset link is on its way.",
    )


@router.get("/reset-password", dependencies=[PUBLIC])
async def reset_page(request: Request, token: str = "") -> Response:
    return render(request, "accounts/reset.html", token=token)


@router.post("/reset-password", dependencies=[PUBLIC, Csrf])
async def reset(
    request: Request,
    db: Session,
    runtime: RuntimeDep,
    context: Context,
    token: FormStr,
    new_password: FormStr,
) -> Response:
    try:
        await email_flows.reset_password(
            db, runtime.settings, PasswordReset(token=token, new_password=new_password), context
        )
    except (CareBridgeError, ValueError) as exc:
        await undo_unless_kept(db, exc)
        return render(
            request, "accounts/reset.html", token=token, error=_error(exc), status_code=422
        )
    return redirect("/signin?reset=1")


@router.get("/verify-email", dependencies=[PUBLIC])
async def verify_page(request: Request, actor: WebVisitor, token: str = "") -> Response:
    # Opening the link only shows a button: mail scanners that follow links change nothing.
    return render(request, "accounts/verify.html", actor, token=token)


@router.post("/verify-email", dependencies=[PUBLIC, Csrf])
async def verify(
    request: Request, actor: WebVisitor, db: Session, context: Context, token: FormStr
) -> Response:
    try:
        user = await email_flows.verify_email(db, token, context)
    except CareBridgeError as exc:
        await undo_unless_kept(db, exc)
        return render(
            request, "accounts/verify.html", actor, error=_error(exc), status_code=exc.status
        )
    return render(request, "accounts/verify.html", actor, verified_email=user.email)


# -- the account page -------------------------------------------------------------------------


async def _account(
    request: Request, actor: WebUser, db: Session, status_code: int = 200, **values: object
) -> Response:
    me = await service.get_me(db, actor)
    sessions = await service.list_sessions(db, actor)
    return render(
        request,
        "accounts/account.html",
        actor,
        me=me,
        sessions=sessions,
        passkeys=await two_factor.list_passkeys(db, actor),
        passkeys_available=passkeys.available((await get_runtime(request)).settings),
        status_code=status_code,
        **values,
    )


@router.get("/account")
async def account(request: Request, actor: WebUser, db: Session, enrol: int = 0) -> Response:
    if enrol:
        notice = "Staff accounts need two-step sign-in: set it up below to continue."
        return await _account(request, actor, db, notice=notice)
    return await _account(request, actor, db)


@router.post("/account/profile", dependencies=[Csrf])
async def update_profile(
    request: Request,
    actor: WebUser,
    db: Session,
    name: FormStr = "",
    phone: FormStr = "",
    time_zone: FormStr = "UTC",
) -> Response:
    try:
        await service.update_me(
            db, actor, ProfileUpdate(name=name, phone=phone, time_zone=time_zone)
        )
    except (CareBridgeError, ValueError) as exc:
        await undo_unless_kept(db, exc)
        return await _account(request, actor, db, 422, error=_error(exc))
    return await _account(request, actor, db, notice="Profile saved.")


@router.post("/account/password", dependencies=[Csrf])
async def change_password(
    request: Request,
    actor: WebUser,
    db: Session,
    runtime: RuntimeDep,
    context: Context,
    check: CheckCredentials,
    current_password: FormStr = "",
    new_password: FormStr = "",
) -> Response:
    try:
        user = await service.change_password(
            db,
            check,
            actor,
            PasswordChange.model_validate(
                filled(current_password=current_password, new_password=new_password)
            ),
        )
    except (CareBridgeError, ValueError) as exc:
        await undo_unless_kept(db, exc)
        return await _account(request, actor, db, 422, error=_error(exc))
    return await _signed_in(db, runtime, user, context, "/account?password_changed=1")


@router.post("/account/mfa/setup", dependencies=[Csrf])
async def mfa_setup(request: Request, actor: WebUser, db: Session, runtime: RuntimeDep) -> Response:
    try:
        setup = await two_factor.totp_setup(db, _keys(request, runtime), actor)
    except CareBridgeError as exc:
        await undo_unless_kept(db, exc)
        return await _account(request, actor, db, exc.status, error=_error(exc))
    return await _account(request, actor, db, setup=setup)


@router.post("/account/mfa/enable", dependencies=[Csrf])
async def mfa_enable(
    request: Request,
    actor: WebUser,
    db: Session,
    runtime: RuntimeDep,
    context: Context,
    code: FormStr,
) -> Response:
    try:
        codes = await two_factor.totp_enable(db, _keys(request, runtime), actor, code, context)
    except CareBridgeError as exc:
        await undo_unless_kept(db, exc)
        return await _account(request, actor, db, exc.status, error=_error(exc))
    return await _account(request, actor, db, recovery_codes=codes.recovery_codes)


@router.post("/account/mfa/recovery-codes", dependencies=[Csrf])
async def renew_recovery_codes(
    request: Request,
    actor: WebUser,
    db: Session,
    check: CheckCredentials,
    password: FormStr = "",
    code: FormStr = "",
) -> Response:
    """New recovery codes, shown once on the page that answers (never again)."""
    try:
        body = TotpDisable(password=password, code=code)
        codes = await two_factor.renew_recovery_codes(db, check, actor, body)
    except (CareBridgeError, ValueError) as exc:
        await undo_unless_kept(db, exc)  # a wrong password or code still counts
        return await _account(request, actor, db, _status(exc), error=_error(exc))
    return await _account(
        request, actor, db, recovery_codes=codes.recovery_codes, codes_renewed=True
    )


@router.post("/account/mfa/disable", dependencies=[Csrf])
async def mfa_disable(
    request: Request,
    actor: WebUser,
    db: Session,
    check: CheckCredentials,
    password: FormStr = "",
    code: FormStr = "",
) -> Response:
    try:
        await two_factor.totp_disable(db, check, actor, TotpDisable(password=password, code=code))
    except (CareBridgeError, ValueError) as exc:
        await undo_unless_kept(db, exc)
        return await _account(request, actor, db, _status(exc), error=_error(exc))
    return await _account(request, actor, db, notice="Two-step sign-in is off.")


@router.post("/account/passkeys/options", dependencies=[CsrfHeader])
async def passkey_registration_options(
    actor: WebUser, db: Session, check: CheckCredentials, body: PasskeyRegistrationStart
) -> Response:
    """The password, then options to make a passkey, for the account page's script (JSON)."""
    return await _json_options(db, two_factor.passkey_registration_options(db, check, actor, body))


@router.post("/account/passkeys", dependencies=[Csrf])
async def add_passkey(
    request: Request,
    actor: WebUser,
    db: Session,
    scope: Scope,
    name: FormStr = "",
    credential: FormStr = "",
) -> Response:
    """Store the passkey the page's script made (``credential``: the browser's answer)."""
    try:
        body = PasskeyAdd(name=name, credential=passkey_answer(credential))
        added = await two_factor.add_passkey(db, scope, actor, body)
    except (CareBridgeError, ValueError) as exc:
        await undo_unless_kept(db, exc)
        return await _account(request, actor, db, _status(exc), error=_error(exc, PASSKEY))
    if added.recovery_codes:
        return await _account(request, actor, db, recovery_codes=added.recovery_codes)
    return await _account(request, actor, db, notice=f"Passkey “{added.passkey.name}” added.")


@router.post("/account/passkeys/{passkey_id}/rename", dependencies=[Csrf])
async def rename_passkey(
    request: Request,
    passkey_id: uuid.UUID,
    actor: WebUser,
    db: Session,
    scope: Scope,
    name: FormStr = "",
) -> Response:
    try:
        body = PasskeyRename(name=name)
        await two_factor.rename_passkey(db, scope, actor, passkey_id, body)
    except (CareBridgeError, ValueError) as exc:
        await undo_unless_kept(db, exc)
        return await _account(request, actor, db, _status(exc), error=_error(exc, PASSKEY))
    return await _account(request, actor, db, notice="Passkey renamed.")


@router.post("/account/passkeys/{passkey_id}/remove", dependencies=[Csrf])
async def remove_passkey(
    request: Request, passkey_id: uuid.UUID, actor: WebUser, db: Session, scope: Scope
) -> Response:
    try:
        await two_factor.remove_passkey(db, scope, actor, passkey_id)
    except CareBridgeError as exc:
        await undo_unless_kept(db, exc)
        return await _account(request, actor, db, exc.status, error=_error(exc))
    return await _account(request, actor, db, notice="Passkey removed.")


@router.post("/account/sessions/{session_id}/revoke", dependencies=[Csrf])
async def revoke_session(
    request: Request, session_id: uuid.UUID, actor: WebUser, db: Session, context: Context
) -> Response:
    try:
        await service.revoke_session(db, actor, session_id, context)
    except CareBridgeError as exc:
        await undo_unless_kept(db, exc)
        return await _account(request, actor, db, exc.status, error=_error(exc))
    return redirect("/account")


# -- admin ------------------------------------------------------------------------------------


async def _users(
    request: Request,
    actor: Actor,
    db: Session,
    status_code: int = 200,
    q: str | None = None,
    cursor: str | None = None,
    **values: object,
) -> Response:
    page = await admin.list_users(
        db, actor, query=q, role=None, status=None, cursor=cursor, limit=50
    )
    return render(
        request,
        "accounts/admin_users.html",
        actor,
        status_code=status_code,
        page=page,
        q=q or "",
        actions={u.id: admin.user_actions(actor, u) for u in page.items},
        **values,
    )


@router.get("/admin/users")
async def admin_users(
    request: Request,
    actor: WebAdmin,
    db: Session,
    q: str | None = None,
    cursor: str | None = None,
    disabled: int = 0,
) -> Response:
    notice = "The account is disabled: it was signed out everywhere." if disabled else None
    return await _users(request, actor, db, q=q, cursor=cursor, notice=notice)


async def _confirm_disable(
    request: Request, actor: Actor, db: Session, user_id: uuid.UUID
) -> Response:
    try:
        admin.check_may_disable(actor, user_id)
        user = await admin.get_user(db, user_id)
    except CareBridgeError as exc:
        return await _users(request, actor, db, exc.status, error=_error(exc))
    return render(request, "accounts/admin_user_disable.html", actor, user=user)


@router.get("/admin/users/{user_id}/disable")
async def disable_user_page(
    request: Request, user_id: uuid.UUID, actor: WebAdmin, db: Session
) -> Response:
    """Disabling asks first: this page names the account and what happens to it."""
    return await _confirm_disable(request, actor, db, user_id)


@router.post("/admin/users/{user_id}/disable", dependencies=[Csrf])
async def disable_user(
    request: Request,
    user_id: uuid.UUID,
    actor: WebAdmin,
    db: Session,
    context: Context,
    confirm: FormStr = "",
) -> Response:
    if confirm != "yes":  # a form without the confirmation (an old page) asks first too
        return await _confirm_disable(request, actor, db, user_id)
    try:
        await admin.disable_user(db, actor, user_id, context)
    except CareBridgeError as exc:
        await undo_unless_kept(db, exc)
        return await _users(request, actor, db, exc.status, error=_error(exc))
    return redirect("/admin/users?disabled=1")


@router.post("/admin/users/{user_id}/{action}", dependencies=[Csrf])
async def admin_user_action(
    request: Request,
    user_id: uuid.UUID,
    action: str,
    actor: WebAdmin,
    db: Session,
    context: Context,
) -> Response:
    actions = {"enable": admin.enable_user, "approve": admin.approve_clinician}
    if action not in actions:
        return redirect("/admin/users")
    try:
        await actions[action](db, actor, user_id, context)
    except CareBridgeError as exc:
        await undo_unless_kept(db, exc)
        return await _users(request, actor, db, exc.status, error=_error(exc))
    return redirect("/admin/users")
