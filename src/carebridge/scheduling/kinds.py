"""Notification kinds of scheduling and payments. Changes to a booking are transactional: the
in-app and email channels cannot be switched off."""

from __future__ import annotations

from carebridge.notifications.kinds import Kind, register_kind
from carebridge.notifications.models import Channel

_IN_APP_AND_EMAIL = frozenset({Channel.in_app, Channel.email})

APPOINTMENT_CHANGED = register_kind(
    Kind(
        "appointment_changed",
        "Your appointments: booked, confirmed, moved, cancelled, started or finished",
        defaults=_IN_APP_AND_EMAIL,
        mandatory=True,
    )
)
APPOINTMENT_REMINDER = register_kind(
    Kind(
        "appointment_reminder",
        "Reminders before an appointment",
        defaults=frozenset({Channel.in_app, Channel.email, Channel.push}),
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
