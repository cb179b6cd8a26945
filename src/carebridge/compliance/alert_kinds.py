"""Notification kinds of the compliance domain."""

from __future__ import annotations

from carebridge.notifications.kinds import Kind, register_kind
from carebridge.notifications.models import Channel

SECURITY_ALERT = register_kind(
    Kind(
        "security_alert",
        "For administrators: a detection rule raised a security alert",
        defaults=frozenset({Channel.in_app, Channel.email}),
        mandatory=True,
    )
)
