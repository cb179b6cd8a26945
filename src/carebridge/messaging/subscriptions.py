"""Messaging acts on scheduling's hooks, inside the booking's transaction: a booked appointment
gets its conversation with the booking."""

from __future__ import annotations

from carebridge.messaging.service import on_booked
from carebridge.scheduling.hooks import BOOKED

BOOKED.subscribe(on_booked)
