"""Devices subscribing to web push."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.config import Settings
from carebridge.notifications.models import PushSubscription
from carebridge.platform.context import RequestContext
from carebridge.platform.errors import NotFound
from carebridge.platform.push import vapid_key


class SubscriptionKeys(BaseModel):
    p256dh: str = Field(min_length=20, max_length=200)
    auth: str = Field(min_length=8, max_length=100)


class SubscriptionIn(BaseModel):
    """The browser's PushSubscription.toJSON()."""

    endpoint: str = Field(min_length=10, max_length=1000, pattern=r"^https?://")
    keys: SubscriptionKeys


class SubscriptionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    endpoint: str


class VapidPublicKey(BaseModel):
    public_key: str = Field(description="The applicationServerKey for pushManager.subscribe().")


def public_key(settings: Settings) -> VapidPublicKey:
    key = vapid_key(settings)
    if key is None:
        raise NotFound("Web push is not configured on this server.", code="push_not_configured")
    return VapidPublicKey(public_key=key.public_key)


async def subscribe(
    db: AsyncSession, actor: Actor, body: SubscriptionIn, context: RequestContext
) -> PushSubscription:
    """Save this device for the caller (a device moving to another account moves with it)."""
    values = {
        "user_id": actor.id,
        "endpoint": body.endpoint,
        "p256dh": body.keys.p256dh,
        "auth": body.keys.auth,
        "user_agent": (context.user_agent or "")[:400] or None,
    }
    statement = insert(PushSubscription).values(values)
    row_id = await db.scalar(
        statement.on_conflict_do_update(
            index_elements=["endpoint"],
            set_={k: statement.excluded[k] for k in ("user_id", "p256dh", "auth", "user_agent")},
        ).returning(PushSubscription.id)
    )
    row = await db.get(PushSubscription, row_id)
    assert row is not None
    return row


async def unsubscribe(db: AsyncSession, actor: Actor, subscription_id: uuid.UUID) -> None:
    removed = await db.scalar(
        delete(PushSubscription)
        .where(PushSubscription.id == subscription_id, PushSubscription.user_id == actor.id)
        .returning(PushSubscription.id)
    )
    if removed is None:
        raise NotFound("No such push subscription.")
