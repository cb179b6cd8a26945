"""Notifications queues the messages accounts sends its users (``accounts/hooks.py``), in the
transaction of the change that causes them."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.hooks import MESSAGE, Message
from carebridge.notifications.models import Priority
from carebridge.notifications.service import notify


@MESSAGE.subscribe
async def queue_account_message(db: AsyncSession, message: Message) -> None:
    await notify(
        db,
        message.user_id,
        message.kind,
        message.title,
        message.body,
        data=message.data,
        link=message.link,
        priority=Priority.urgent,
    )
