"""Notification kinds of scheduling and payments. Changes to a booking are transactional: the
in-app and email channels cannot be switched off."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.models import User
from carebridge.config import Settings
from carebridge.notifications.kinds import Kind, register_kind
from carebridge.notifications.models import Channel, Notification

_IN_APP_AND_EMAIL = frozenset({Channel.in_app, Channel.email})


async def call_check_link(
    db: AsyncSession, notification: Notification, user: User, settings: Settings
) -> dict[str, Any]:
    """The confirmations and reminders of a video appointment (``call_check`` in their data:
    notices.call_notice) link the pre-call check in their email too (the generic template's
    ``check_link``)."""
    path = (notification.data or {}).get("call_check")
    return {"check_link": settings.public_base_url + path} if isinstance(path, str) else {}


APPOINTMENT_CHANGED = register_kind(
    Kind(
        "appointment_changed",
        "Your appointments: booked, confirmed, moved, cancelled, started or finished",
        defaults=_IN_APP_AND_EMAIL,
        mandatory=True,
        email_context=call_check_link,
    )
)
APPOINTMENT_REMINDER = register_kind(
    Kind(
        "appointment_reminder",
        "Reminders before an appointment",
        defaults=frozenset({Channel.in_app, Channel.email, Channel.push}),
        email_context=call_check_link,
    )
)
PAYMENT_CHANGED = register_kind(
    Kind(
        "payment_changed",
        "Payments and refunds",
        defaults=_IN_APP_AND_EMAIL,
        mandatory=True,
    )
)
