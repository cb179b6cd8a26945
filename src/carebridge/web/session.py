"""Browser sessions: an HttpOnly cookie naming a row of ``auth_sessions``, CSRF protection on
every form, idle and absolute timeouts. The same services as the API run underneath."""

from __future__ import annotations

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
from carebridge.config import Settings
from carebridge.platform.access import caller
from carebridge.platform.context import CallScope
from carebridge.platform.deps import RuntimeDep, Session
from carebridge.platform.errors import CareBridgeError, Forbidden

SESSION_COOKIE = "cb_session"
CSRF_COOKIE = "cb_csrf"
MFA_COOKIE = "cb_mfa"


class SignInRequired(CareBridgeError):
    """A page for signed-in people, opened without a session: answered with a redirect."""

    status = 303
    code = "sign_in_required"
    title = "Sign in first"


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
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.web_absolute_hours * 3600,
        httponly=True,
        secure=secure_cookies(settings),
        samesite="lax",
        path="/",
    )


async def web_session_actor(request: Request, db: Session, runtime: RuntimeDep) -> Actor | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    actor = await cookie_actor(db, runtime.settings, token)
    if actor is None:
        return None
    request.state.actor = actor  # as the API's callers do
    return actor


@caller
async def web_visitor(
    actor: Annotated[Actor | None, Depends(web_session_actor)],
) -> Actor | None:
    """A page open to anyone; it knows who is signed in."""
    return actor


@caller
async def web_user(
    request: Request, actor: Annotated[Actor | None, Depends(web_session_actor)]
) -> Actor:
    """A page for signed-in people; others are sent to the sign-in page."""
    if actor is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(headers={"Location": f"/signin?next={quote(target, safe='')}"})
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


def csrf_token(request: Request) -> str:
    """The form token of this browser (double-submit: cookie and hidden field must match)."""
    existing = request.cookies.get(CSRF_COOKIE)
    if existing:
        return existing
    cached = request.scope.setdefault("state", {}).get("new_csrf")
    if cached is None:
        cached = request.scope["state"]["new_csrf"] = secrets.token_urlsafe(24)
    return str(cached)


def remember_csrf(request: Request, response: Response, settings: Settings) -> None:
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
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), given.encode()):
        raise CsrfFailed("The form expired or came from another site; reload the page and retry.")


async def check_csrf(request: Request, csrf_token: Annotated[str, Form()] = "") -> None:
    """Every form POST carries the token; a cross-site form cannot know it."""
    _same_token(request, csrf_token)


async def check_csrf_header(request: Request) -> None:
    """The same check for scripts posting JSON: the token in the X-CSRF-Token header."""
    _same_token(request, request.headers.get("x-csrf-token", ""))


Csrf = Depends(check_csrf)
CsrfHeader = Depends(check_csrf_header)
