"""What compliance tells the domains above it, inside its own transaction.

A new security alert (``compliance/detection.py``) fires :data:`ALERT_RAISED`; notifications
subscribes (``notifications/subscriptions.py``) and tells every administrator, in the
transaction that writes the alert.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from carebridge.platform.hooks import Hook


@dataclass(frozen=True)
class AlertRaised:
    """A security alert just raised: what administrators are told (no PHI)."""

    alert_id: uuid.UUID
    rule: str
    severity: str
    title: str
    body: str
    link: str


ALERT_RAISED: Hook[AlertRaised] = Hook("compliance.alert_raised")
