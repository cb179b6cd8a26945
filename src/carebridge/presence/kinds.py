"""Notification kinds of presence."""

from __future__ import annotations

from carebridge.notifications.kinds import Kind, register_kind
from carebridge.notifications.models import Channel

DOCTOR_ONLINE = register_kind(
    Kind(
        "doctor_online",
        "A doctor you follow is online",
        defaults=frozenset({Channel.in_app, Channel.push}),
    )
)
