"""Hand-written SQL of home visits: the nurse's position, the hot path of live tracking.

Through the ORM a position took a session, an ``UPDATE ... RETURNING`` of the visit's entity,
a flushed insert and a second update, about 8 ms of server CPU per position against 1.3 ms for
a floor that only stores it (``bench/visit_tracking.py``, docs/visits.md). Here it is one
statement on a pooled connection's own transaction (``Database.driver_tx``).

The rule of who may send (``policy.sends_position``: the assigned nurse while en route or
arrived) is the ORM condition of its owner, rendered into the text
(``platform.statements.condition_sql``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Uuid, literal_column

from carebridge.platform.statements import Statement, condition_sql
from carebridge.visits.policy import sends_position

_C_SENDS = condition_sql(sends_position(literal_column(":nurse_id", Uuid())))


class NewPosition(NamedTuple):
    visit_id: uuid.UUID
    nurse_id: uuid.UUID
    lat: float
    lng: float
    accuracy_m: float | None
    now: datetime
    since: datetime  # the last position must be at or before this (the interval)


STORE_POSITION = Statement(
    f"""
WITH moved AS (
    UPDATE home_visits
    SET last_lat = :lat::float8, last_lng = :lng::float8, last_accuracy_m = :accuracy_m::float8,
        last_position_at = :now::timestamptz, updated_at = :now::timestamptz
    WHERE id = :visit_id AND {_C_SENDS}
      AND (last_position_at IS NULL OR last_position_at <= :since::timestamptz)
    RETURNING id, lat, lng
), kept AS (
    INSERT INTO visit_positions (visit_id, at, lat, lng, accuracy_m)
    SELECT id, :now::timestamptz, :lat::float8, :lng::float8, :accuracy_m::float8 FROM moved
), nurse AS (
    UPDATE visit_nurses
    SET last_lat = :lat::float8, last_lng = :lng::float8, last_position_at = :now::timestamptz,
        updated_at = :now::timestamptz
    WHERE nurse_id = :nurse_id AND EXISTS (SELECT FROM moved)
)
SELECT lat, lng FROM moved
""",  # noqa: S608 - built from constants
    NewPosition,
)
"""Store a position if the nurse may send it now: one row (the home's point, null if the
address is not placed) when stored; none when the visit is not theirs to send, not en route or
arrived, or the last position is more recent than ``since``. The ``UPDATE`` takes the visit's
row lock and then evaluates its ``WHERE`` again on the row as committed: of two positions for
one visit arriving at two processes at once, the second finds the first's ``last_position_at``
and stores nothing."""
