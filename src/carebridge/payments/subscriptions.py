"""Payments acts on scheduling's hooks, inside the booking's transaction: the payment row is
written with the booking, and cancelled or refunded with its cancellation."""

from __future__ import annotations

from carebridge.payments.service import on_booked, on_cancelled
from carebridge.scheduling.hooks import BOOKED, CANCELLED

BOOKED.subscribe(on_booked)
CANCELLED.subscribe(on_cancelled)
