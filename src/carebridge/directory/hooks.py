"""What directory needs from the domains above it, without importing them.

A doctor listing shows each doctor's presence (online, busy or offline, and when last online)
and filters by it. Presence keeps that, and supplies the columns the listing reads
(``presence/subscriptions.py``): directory joins them into its statements and never names
presence's table.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import InstrumentedAttribute

from carebridge.platform.hooks import Supplied
from carebridge.platform.models import Base


@dataclass(frozen=True)
class ListingPresence:
    """A table with at most one row per doctor, outer-joined on the doctor's user id (no row:
    offline), and the columns a listing shows."""

    table: type[Base]
    doctor_id: InstrumentedAttribute[uuid.UUID]
    status: InstrumentedAttribute[str]  # 'online', 'busy' or 'offline'
    last_online_at: InstrumentedAttribute[datetime | None]


LISTING_PRESENCE: Supplied[ListingPresence] = Supplied("directory.listing_presence")
