"""What happens to a booking that other domains act on, inside scheduling's transaction.

Payments subscribes (``payments/subscriptions.py``): a booking with a fee gets its payment row,
a cancelled booking cancels or refunds its payment. Scheduling fires these hooks and imports
nothing of the domains that subscribe.
"""

from __future__ import annotations

from dataclasses import dataclass

from carebridge.config import Settings
from carebridge.platform.hooks import Hook
from carebridge.scheduling.models import Appointment


@dataclass(frozen=True)
class Booking:
    """A new appointment, flushed (it has its id), scheduled or held for payment."""

    appointment: Appointment
    settings: Settings


@dataclass(frozen=True)
class Cancellation:
    """An appointment just cancelled or released, its row locked by the code that fired.
    ``refund``: whether what was paid goes back (a cancellation within the rules), or not
    (a hold that lapsed unpaid)."""

    appointment: Appointment
    settings: Settings
    refund: bool


BOOKED: Hook[Booking] = Hook("scheduling.booked")
CANCELLED: Hook[Cancellation] = Hook("scheduling.cancelled")
