"""Presence supplies what directory's doctor listings show of a doctor's presence
(``directory/hooks.py``)."""

from __future__ import annotations

from carebridge.directory.hooks import LISTING_PRESENCE, ListingPresence
from carebridge.presence.models import DoctorPresence

LISTING_PRESENCE.supply(
    ListingPresence(
        table=DoctorPresence,
        doctor_id=DoctorPresence.doctor_id,
        status=DoctorPresence.status,
        last_online_at=DoctorPresence.last_online_at,
    )
)
