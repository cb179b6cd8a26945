"""Browser sessions: an HttpOnly cookie naming a row of ``auth_sessions``, CSRF protection on
every form (a token bound to the session, renewed when a session starts or ends), idle and
absolute timeouts. The same services as the API run underneath."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Form, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from carebridge.accounts.actors import Actor
from carebridge.accounts.browser import cookie_actor, cookie_digest
from carebridge.accounts.devices import note_sign_in
from carebridge.accounts.models import AuthSession, Role, User
from carebridge.accounts.policy import enrolment_advice, enrolment_missing
from carebridge.compliance import consent
from carebridge.config import Settings
from carebridge.platform.access import caller
from carebridge.platform.context import CallScope
from carebridge.platform.deps import RuntimeDep, Session
from carebridge.platform.errors import CareBridgeError, Forbidden
from carebridge.platform.runtime import Runtime

SESSION_COOKIE = "cb_session"
CSRF_COOKIE = "cb_csrf"
MFA_COOKIE = "cb_mfa"


class PageRedirect(CareBridgeError):
    """A page that cannot be shown yet: answered with a redirect to its ``Location`` header."""

    status = 303


class SignInRequired(PageRedirect):
    """A page for signed-in people, opened without a session."""

    code = "sign_in_required"
    title = "Sign in first"


class ConsentRequired(PageRedirect):
    """A signed-in person with a required consent document to accept: the consent page first."""

    code = "consent_required"
    title = "Accept the current documents first"


# What a person with a pending consent may still open: the consent page itself and signing out
# (static files and the API never pass through the page callers).
CONSENT_PAGE = "/consents"
OPEN_BEFORE_CONSENT = frozenset({CONSENT_PAGE, "/signout"})


class CsrfFailed(Forbidden):
    code = "csrf_failed"
    title = "The form expired"


def secure_cookies(settings: Settings) -> bool:
    return settings.public_base_url.startswith("https://")


async def start_web_session(db: AsyncSession, scope: CallScope, user: User) -> str:
    settings, context = scope.settings, scope.origin
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    db.add(
        AuthSession(
            user_id=user.id,
            user_agent=(context.user_agent or None) and context.user_agent[:400],
            ip=context.ip,
            last_used_at=now,
            idle_expires_at=now + timedelta(minutes=settings.web_idle_minutes),
            absolute_expires_at=now + timedelta(hours=settings.web_absolute_hours),
            cookie_hash=cookie_digest(token),
        )
    )
    await db.flush()
    await note_sign_in(db, scope, user, "web")
    return token


def set_session_cookie(response: Response, settings: Settings, token: str) -> None:
    """Start the browser's session. Its form token changes with it (it is bound to this cookie),
    and the pre-session cookie is dropped: no token seen or planted before sign-in works
    after it."""
    response.delete_cookie(CSRF_COOKIE, path="/")
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.web_absolute_hours * 3600,
        httponly=True,
        secure=secure_cookies(settings),
        samesite="lax",
        path="/",
    )


def clear_session_cookie(response: Response) -> None:
    """End the browser's session: the session cookie goes, and with it its form token; the
    pre-session cookie goes too, so the next page makes a new visitor token."""
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")


async def web_session_actor(request: Request, db: Session, runtime: RuntimeDep) -> Actor | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    actor = await cookie_actor(db, runtime.settings, token)
    if actor is None:
        return None
    request.state.actor = actor  # as the API's callers do
    return actor


def _target(request: Request) -> str:
    return quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""), safe="")


async def ask_consent_first(request: Request, db: AsyncSession, actor: Actor) -> None:
    """The app asks before anything else: a signed-in person with a required consent document
    to accept is sent to the consent page (``web/consents.py``) from every page but that one
    and signing out. The API does not ask (``docs/compliance.md``, "Consent")."""
    if request.url.path in OPEN_BEFORE_CONSENT:
        return
    if not await consent.pending_documents(db, consent.person(actor)):
        return
    if not _navigation(request):
        # A page's script or htmx fragment (the bell, the unread count): a redirect would put
        # the consent page inside the page; refused instead, the page itself was sent there.
        raise Forbidden("Accept the current documents first.", code="consent_required")
    next_page = f"?next={_target(request)}" if request.method == "GET" else ""
    raise ConsentRequired(headers={"Location": f"{CONSENT_PAGE}{next_page}"})


def _navigation(request: Request) -> bool:
    """Whether the browser is opening a page (or posting a form), not a script fetching: the
    Fetch Metadata header says so (clients without it are taken at their word: a page)."""
    if request.headers.get("hx-request"):
        return False
    return request.headers.get("sec-fetch-mode", "navigate") == "navigate"


@caller
async def web_visitor(
    request: Request, db: Session, actor: Annotated[Actor | None, Depends(web_session_actor)]
) -> Actor | None:
    """A page open to anyone; it knows who is signed in (who is asked for consent first)."""
    if actor is not None:
        await ask_consent_first(request, db, actor)
    return actor


@caller
async def web_user(
    request: Request, db: Session, actor: Annotated[Actor | None, Depends(web_session_actor)]
) -> Actor:
    """A page for signed-in people; others are sent to the sign-in page, and those with a
    required consent document to accept to the consent page."""
    if actor is None:
        raise SignInRequired(headers={"Location": f"/signin?next={_target(request)}"})
    await ask_consent_first(request, db, actor)
    return actor


@caller
async def web_admin(actor: Annotated[Actor, Depends(web_user)], runtime: RuntimeDep) -> Actor:
    if actor.role != Role.admin:
        raise Forbidden("Only administrators may open this page.", code="wrong_role")
    settings = runtime.settings
    if enrolment_missing(
        settings, actor.role, totp=actor.totp_enrolled, passkey=actor.passkey_enrolled
    ):
        raise Forbidden(enrolment_advice(settings, actor.role), code="mfa_enrollment_required")
    return actor


WebVisitor = Annotated[Actor | None, Depends(web_visitor)]
WebUser = Annotated[Actor, Depends(web_user)]
WebAdmin = Annotated[Actor, Depends(web_admin)]


def _csrf_key(request: Request) -> bytes:
    runtime: Runtime = request.app.state.runtime
    return runtime.settings.secret("secret_key").encode()


def _bound_token(request: Request, kind: bytes, cookie: str) -> str:
    """The form token bound to a cookie: an HMAC under the app's secret key of the cookie's
    digest (never the cookie itself), so a token says nothing of its cookie, and only the
    server, given the cookie, can make it."""
    message = b"csrf:" + kind + b":" + cookie_digest(cookie)
    return hmac.new(_csrf_key(request), message, hashlib.sha256).hexdigest()


def csrf_token(request: Request) -> str:
    """The form token of this browser. Signed in: bound to the session cookie, so it is valid
    for that session alone and changes when a session starts or ends. A visitor: bound to a
    random pre-session cookie (``cb_csrf``), made on the first page that needs it."""
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        return _bound_token(request, b"session", session)
    visitor = request.cookies.get(CSRF_COOKIE)
    if not visitor:
        state = request.scope.setdefault("state", {})
        visitor = state.get("new_csrf")
        if visitor is None:
            visitor = state["new_csrf"] = secrets.token_urlsafe(24)
    return _bound_token(request, b"visitor", str(visitor))


def remember_csrf(request: Request, response: Response, settings: Settings) -> None:
    """Set the pre-session cookie a visitor's form token was just made for."""
    new = request.scope.get("state", {}).get("new_csrf")
    if new:
        response.set_cookie(
            CSRF_COOKIE,
            new,
            httponly=True,
            secure=secure_cookies(settings),
            samesite="strict",
            path="/",
        )


def _same_token(request: Request, given: str) -> None:
    bound = request.cookies.get(SESSION_COOKIE) or request.cookies.get(CSRF_COOKIE)
    expected = csrf_token(request) if bound else ""
    if not expected or not hmac.compare_digest(expected.encode(), given.encode()):
        raise CsrfFailed("The form expired or came from another site; reload the page and retry.")


async def check_csrf(request: Request, csrf_token: Annotated[str, Form()] = "") -> None:
    """Every form POST carries the token; a cross-site form cannot know it."""
    _same_token(request, csrf_token)


async def check_csrf_header(request: Request) -> None:
    """The same check for scripts posting JSON: the token in the X-CSRF-Token header."""
    _same_token(request, request.headers.get("x-csrf-token", ""))


Csrf = Depends(check_csrf)
CsrfHeader = Depends(check_csrf_header)
