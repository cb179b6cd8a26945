"""Messaging acts on scheduling's hooks, inside scheduling's transaction: a booked appointment
gets its conversation with the booking; a person's move of an appointment is shown live in its
conversation, and completing a chat appointment closes it (``service.on_moved``)."""

from __future__ import annotations

from carebridge.messaging.service import on_booked, on_moved
from carebridge.scheduling.hooks import BOOKED, MOVED

BOOKED.subscribe(on_booked)
MOVED.subscribe(on_moved)
