"""The notifications API: the in-app inbox, preferences, and the admin deliveries view."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from carebridge.accounts.actors import AdminActor, AnyUser
from carebridge.notifications import admin, preferences, push, service
from carebridge.notifications.models import Channel, DeliveryStatus
from carebridge.notifications.push import SubscriptionIn, SubscriptionOut, VapidPublicKey
from carebridge.notifications.schemas import (
    DeliveryOut,
    DeliveryPage,
    NotificationOut,
    NotificationPage,
    Preferences,
    PreferencesIn,
    ReadAll,
    UnreadCount,
)
from carebridge.platform.context import Context
from carebridge.platform.deps import RuntimeDep, Session
from carebridge.platform.errors import Conflict, Forbidden, Invalid, NotFound
from carebridge.platform.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from carebridge.platform.problems import problem_responses

router = APIRouter(tags=["notifications"])
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]


@router.get("/notifications", response_model=NotificationPage)
async def list_notifications(
    actor: AnyUser,
    db: Session,
    unread: bool | None = None,
    cursor: str | None = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> Any:
    """Your notifications, newest first (`unread=true` for unread only)."""
    page = await service.list_notifications(db, actor, unread=unread, cursor=cursor, limit=limit)
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get("/notifications/unread-count", response_model=UnreadCount)
async def unread_count(actor: AnyUser, db: Session) -> UnreadCount:
    """How many of your notifications are unread (the bell's number)."""
    return UnreadCount(unread=await service.unread_count(db, actor))


@router.post(
    "/notifications/{notification_id}/read",
    response_model=NotificationOut,
    responses=problem_responses(NotFound),
)
async def mark_read(notification_id: uuid.UUID, actor: AnyUser, db: Session) -> Any:
    """Mark one notification read."""
    return await service.mark_read(db, actor, notification_id)


@router.post("/notifications/read-all", response_model=ReadAll)
async def mark_all_read(actor: AnyUser, db: Session) -> ReadAll:
    """Mark every notification read."""
    return ReadAll(marked=await service.mark_all_read(db, actor))


@router.get("/notifications/preferences", response_model=Preferences)
async def get_preferences(actor: AnyUser, db: Session) -> Preferences:
    """What you receive, per kind and channel, and your quiet hours."""
    return await preferences.get_preferences(db, actor)


@router.put(
    "/notifications/preferences",
    response_model=Preferences,
    responses=problem_responses(Invalid),
)
async def set_preferences(body: PreferencesIn, actor: AnyUser, db: Session) -> Preferences:
    """Turn channels on or off per kind, and set quiet hours (in your time zone) during which
    only urgent notifications go out by email, SMS or push. `quiet_hours: null` removes them."""
    return await preferences.set_preferences(db, actor, body)


@router.get(
    "/admin/deliveries", response_model=DeliveryPage, responses=problem_responses(Forbidden)
)
async def list_deliveries(
    actor: AdminActor,
    db: Session,
    status: DeliveryStatus | None = None,
    channel: Channel | None = None,
    kind: str | None = None,
    cursor: str | None = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> Any:
    """Deliveries of every channel, newest first, filterable by status, channel and kind."""
    page = await admin.list_deliveries(
        db, status=status, channel=channel, kind=kind, cursor=cursor, limit=limit
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.post(
    "/admin/deliveries/{delivery_id}/retry",
    response_model=DeliveryOut,
    responses=problem_responses(NotFound, Conflict),
)
async def retry_delivery(
    delivery_id: uuid.UUID, actor: AdminActor, db: Session, context: Context
) -> Any:
    """Send a dead delivery again (its attempts start over)."""
    return await admin.retry_delivery(db, actor, delivery_id, context)


@router.get(
    "/push/vapid-public-key", response_model=VapidPublicKey, responses=problem_responses(NotFound)
)
async def vapid_public_key(actor: AnyUser, runtime: RuntimeDep) -> VapidPublicKey:
    """The key a browser needs to subscribe this server's web push."""
    return push.public_key(runtime.settings)


@router.post("/push/subscriptions", status_code=201, response_model=SubscriptionOut)
async def subscribe(body: SubscriptionIn, actor: AnyUser, db: Session, context: Context) -> Any:
    """Save this device's push subscription (`PushSubscription.toJSON()` from the browser)."""
    return await push.subscribe(db, actor, body, context)


@router.delete(
    "/push/subscriptions/{subscription_id}", status_code=204, responses=problem_responses(NotFound)
)
async def unsubscribe(subscription_id: uuid.UUID, actor: AnyUser, db: Session) -> Response:
    """Stop push messages to one of your devices."""
    await push.unsubscribe(db, actor, subscription_id)
    return Response(status_code=204)
