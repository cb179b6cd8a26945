"""Notification pages: the bell's count, the inbox and the preferences."""

from __future__ import annotations

import uuid
from datetime import time
from typing import Annotated

from fastapi import APIRouter, Form, Request
from pydantic import ConfigDict
from starlette.responses import PlainTextResponse, Response

from carebridge.notifications import preferences, push, service
from carebridge.notifications.models import Channel
from carebridge.notifications.push import SubscriptionIn
from carebridge.notifications.schemas import PreferencesIn, QuietHoursIn
from carebridge.platform.context import Context
from carebridge.platform.db import undo_unless_kept
from carebridge.platform.deps import RuntimeDep, Session
from carebridge.platform.errors import CareBridgeError
from carebridge.platform.push import vapid_key
from carebridge.web.forms import FormModel
from carebridge.web.pages import redirect, render
from carebridge.web.session import Csrf, CsrfHeader, WebUser

router = APIRouter(include_in_schema=False)


@router.get("/notifications/bell")
async def bell(actor: WebUser, db: Session) -> Response:
    """The unread count for the header (htmx refreshes it)."""
    count = await service.unread_count(db, actor)
    return PlainTextResponse(str(count) if count else "")


@router.get("/notifications")
async def inbox(request: Request, actor: WebUser, db: Session) -> Response:
    page = await service.list_notifications(db, actor, unread=None, cursor=None, limit=50)
    return render(request, "notifications/inbox.html", actor, items=page.items)


@router.post("/notifications/{notification_id}/read", dependencies=[Csrf])
async def read(notification_id: uuid.UUID, actor: WebUser, db: Session) -> Response:
    await service.mark_read(db, actor, notification_id)
    return redirect("/notifications")


@router.post("/notifications/read-all", dependencies=[Csrf])
async def read_all(actor: WebUser, db: Session) -> Response:
    await service.mark_all_read(db, actor)
    return redirect("/notifications")


@router.get("/notifications/preferences")
async def preferences_page(
    request: Request, actor: WebUser, db: Session, runtime: RuntimeDep
) -> Response:
    current = await preferences.get_preferences(db, actor)
    key = vapid_key(runtime.settings)
    return render(
        request,
        "notifications/preferences.html",
        actor,
        prefs=current,
        channels=[c.value for c in Channel],
        vapid_key=key.public_key if key else None,
    )


@router.post("/notifications/push-subscription", dependencies=[CsrfHeader])
async def push_subscription(
    body: SubscriptionIn, actor: WebUser, db: Session, context: Context
) -> Response:
    """Save this browser's push subscription (sent by static/js/push.js)."""
    await push.subscribe(db, actor, body, context)
    return Response(status_code=204)


class PreferencesForm(FormModel):
    """Quiet hours, and one checkbox per kind and channel (``appointment_booked:email``),
    posted only when ticked (kept by name: the extra fields)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    quiet_starts: str = ""
    quiet_ends: str = ""

    def ticked(self, kind: str, channel: str) -> bool:
        return f"{kind}:{channel}" in (self.model_extra or {})


@router.post("/notifications/preferences", dependencies=[Csrf])
async def save_preferences(
    request: Request,
    actor: WebUser,
    db: Session,
    form: Annotated[PreferencesForm, Form()],
) -> Response:
    quiet_starts, quiet_ends = form.quiet_starts, form.quiet_ends
    current = await preferences.get_preferences(db, actor)
    choices = {
        k.kind: {
            c: form.ticked(k.kind, c) for c in k.channels if not (k.mandatory and k.channels[c])
        }
        for k in current.kinds
    }
    try:
        quiet = (
            QuietHoursIn(
                starts=time.fromisoformat(quiet_starts), ends=time.fromisoformat(quiet_ends)
            )
            if quiet_starts and quiet_ends
            else None
        )
        saved = await preferences.set_preferences(
            db, actor, PreferencesIn(channels=choices, quiet_hours=quiet)
        )
    except (CareBridgeError, ValueError) as exc:
        await undo_unless_kept(db, exc)
        detail = exc.detail if isinstance(exc, CareBridgeError) else "Use times like 22:00."
        return render(
            request,
            "notifications/preferences.html",
            actor,
            prefs=current,
            channels=[c.value for c in Channel],
            error=detail,
            status_code=422,
        )
    return render(
        request,
        "notifications/preferences.html",
        actor,
        prefs=saved,
        channels=[c.value for c in Channel],
        notice="Saved.",
    )
