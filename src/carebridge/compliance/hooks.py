"""What compliance lets the domains above it act on, without importing them
(``platform/hooks.py``), inside its own transaction: the patient is told their data export is
ready, and every administrator is told of a new security alert (``compliance/detection.py``);
notifications subscribes to both (``notifications/subscriptions.py``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from carebridge.platform.hooks import Hook

# The kind of message; notifications registers its channels.
EXPORT_READY_KIND = "export_ready"


@dataclass(frozen=True)
class ExportReady:
    """A patient's data export was built and can be downloaded at ``link``."""

    patient_id: uuid.UUID
    export_id: uuid.UUID
    link: str


EXPORT_READY: Hook[ExportReady] = Hook("compliance.export_ready")


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
