"""Notification kinds of messaging."""

from __future__ import annotations

from carebridge.notifications.kinds import Kind, register_kind
from carebridge.notifications.models import Channel

MESSAGE_RECEIVED = register_kind(
    Kind(
        "message_received",
        "A new message in one of your conversations",
        defaults=frozenset({Channel.in_app, Channel.push, Channel.email}),
    )
)
