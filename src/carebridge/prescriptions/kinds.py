"""Notification kinds of prescriptions. A prescription issued to a patient, or cancelled after
it was issued, is transactional: the in-app and email channels cannot be switched off. The
notices name the doctor and the date only, never a diagnosis or a medication (email is not a
place for health information)."""

from __future__ import annotations

from carebridge.notifications.kinds import Kind, register_kind
from carebridge.notifications.models import Channel

PRESCRIPTION_ISSUED = register_kind(
    Kind(
        "prescription_issued",
        "Your prescriptions: a new one issued, or one cancelled",
        defaults=frozenset({Channel.in_app, Channel.email}),
        mandatory=True,
    )
)
