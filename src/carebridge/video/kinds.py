"""Notification kinds of calls."""

from __future__ import annotations

from carebridge.notifications.kinds import Kind, register_kind
from carebridge.notifications.models import Channel

CALL_WAITING = register_kind(
    Kind(
        "call_waiting",
        "Someone is waiting in one of your video calls",
        defaults=frozenset({Channel.in_app, Channel.push}),
    )
)
CALL_INVITED = register_kind(
    Kind(
        "call_invited",
        "A doctor invited you into a video call",
        defaults=frozenset({Channel.in_app, Channel.push, Channel.email}),
    )
)
