"""Notification kinds of reviews."""

from __future__ import annotations

from carebridge.notifications.kinds import Kind, register_kind
from carebridge.notifications.models import Channel

REVIEW_RECEIVED = register_kind(
    Kind(
        "review_received",
        "A patient reviewed an appointment with you",
        defaults=frozenset({Channel.in_app, Channel.email}),
    )
)
REVIEW_REPLIED = register_kind(
    Kind(
        "review_replied",
        "Your doctor replied to your review",
        defaults=frozenset({Channel.in_app, Channel.email}),
    )
)
