"""Notification kinds of compliance."""

from __future__ import annotations

from carebridge.notifications.kinds import Kind, register_kind
from carebridge.notifications.models import Channel

EXPORT_READY = register_kind(
    Kind(
        "export_ready",
        "Your data export is ready to download",
        defaults=frozenset({Channel.in_app, Channel.email}),
    )
)
