"""Notification kinds of the health record."""

from __future__ import annotations

from carebridge.notifications.kinds import Kind, register_kind
from carebridge.notifications.models import Channel

RECORD_EMERGENCY_ACCESS = register_kind(
    Kind(
        "record_emergency_access",
        "A doctor opened your health record in an emergency",
        defaults=frozenset({Channel.in_app, Channel.email, Channel.push}),
    )
)
RECORD_SHARED = register_kind(
    Kind(
        "record_shared",
        "A patient shared their health record with you",
        defaults=frozenset({Channel.in_app, Channel.email}),
    )
)
MEDICATION_DUE = register_kind(
    Kind(
        "medication_due",
        "Time to take a medication",
        defaults=frozenset({Channel.in_app, Channel.push}),
    )
)
