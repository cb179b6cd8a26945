"""Hand-written SQL of calls, where a benchmark showed it pays (``bench/call_signaling.py``,
docs/performance.md "Call signaling"): the check every signal frame passes. Its rule, a peer in
the call now, is ``policy.is_live``, rendered into the text (one source for the ORM and here)."""

from __future__ import annotations

import uuid
from typing import NamedTuple

from sqlalchemy.orm import aliased

from carebridge.platform.statements import Statement, condition_sql
from carebridge.video.models import CallParticipant
from carebridge.video.policy import is_live

_SENDER_LIVE = condition_sql(is_live(aliased(CallParticipant, name="s")))
_RECIPIENT_LIVE = condition_sql(is_live(aliased(CallParticipant, name="r")))


class SignalRoute(NamedTuple):
    appointment_id: uuid.UUID
    user_id: uuid.UUID
    sender: uuid.UUID
    recipient: uuid.UUID


SIGNAL_ROUTE = Statement(
    f"""
    SELECT 1
    FROM call_participants s
    JOIN calls c ON c.id = s.call_id
    JOIN call_participants r ON r.call_id = s.call_id
    WHERE c.appointment_id = :appointment_id
      AND s.id = :sender AND s.user_id = :user_id AND {_SENDER_LIVE}
      AND r.id = :recipient AND r.id <> s.id AND {_RECIPIENT_LIVE}
    """,  # noqa: S608 - built from constants
    SignalRoute,
)
"""Whether a signal may pass: from ``sender`` (``user_id``'s peer) to ``recipient``, both in
the call of ``appointment_id`` now. A row when it may, none otherwise."""
