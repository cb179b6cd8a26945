"""What happens to a booking that other domains act on, inside scheduling's transaction.

Payments subscribes (``payments/subscriptions.py``): a booking with a fee gets its payment row,
a cancelled booking cancels or refunds its payment. Messaging subscribes
(``messaging/subscriptions.py``): a booking opens the appointment's conversation, and a person's
move (``MOVED``) is shown live in it (a completed chat appointment closes it). Scheduling fires
these hooks and imports nothing of the domains that subscribe.
"""

from __future__ import annotations

from dataclasses import dataclass

from carebridge.accounts.actors import Actor
from carebridge.config import Settings
from carebridge.platform.context import CallScope
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


@dataclass(frozen=True)
class Moved:
    """An appointment a person just moved (``lifecycle.act``: confirm, start, complete, no_show,
    cancel; ``lifecycle.reschedule``: a new time), its row locked and changed, fired in the
    move's transaction after its checks passed. ``actor`` made the move; ``scope`` is the
    request's (its origin goes in the audit rows a subscriber writes). The system's own moves
    (payment arrived, an unpaid hold released) do not fire it."""

    appointment: Appointment
    move: str
    actor: Actor
    scope: CallScope


BOOKED: Hook[Booking] = Hook("scheduling.booked")
CANCELLED: Hook[Cancellation] = Hook("scheduling.cancelled")
MOVED: Hook[Moved] = Hook("scheduling.moved")
