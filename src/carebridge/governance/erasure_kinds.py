"""Notification kinds of an erasure: the patient is told when it is scheduled, cancelled or
waiting on care still ahead (by email too: the account may not be opened again before)."""

from __future__ import annotations

from carebridge.notifications.kinds import Kind, register_kind
from carebridge.notifications.models import Channel

_BY_EMAIL = frozenset({Channel.in_app, Channel.email})

ERASURE_SCHEDULED = register_kind(
    Kind("erasure_scheduled", "Your account is scheduled to be erased", defaults=_BY_EMAIL)
)
ERASURE_CANCELLED = register_kind(
    Kind("erasure_cancelled", "The erasure of your account was cancelled", defaults=_BY_EMAIL)
)
ERASURE_POSTPONED = register_kind(
    Kind("erasure_postponed", "The erasure of your account is waiting", defaults=_BY_EMAIL)
)
