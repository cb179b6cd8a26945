"""Hand-written SQL of scheduling, and the rule of which appointments hold a doctor's time.

**Holding time.** Every appointment that is not cancelled holds its time (start to end plus
buffer), except an unpaid hold whose ``hold_expires_at`` has passed: it is *lapsed*, and holds
nothing from that instant on, although it stays ``pending_payment`` until it is released (by the
minutely sweep, or by the next booking or move that wants its time). The rule is written once,
as SQLAlchemy conditions (:func:`lapsed_hold`, :func:`holds_time`); the slot list and the
reschedule check use them in ORM queries, the sweep to find what to release, and the booking's
statement below includes their compiled text, so all of them agree on every slot.

**The booking** is the hot path of the service: it is written in hand-made SQL on the session's
own connection (``platform.db.driver_connection``), three statements after the caller's session
check: the patient's lock, the facts, and the writes. (Through the ORM it took 14 statements and
most of the request's CPU: docs/performance.md.)
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, DateTime, and_, literal_column, not_
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.orm import aliased
from sqlalchemy.orm.util import AliasedClass

from carebridge.compliance.service import AUDIT_COLUMNS
from carebridge.scheduling.models import Appointment, AppointmentStatus

_Table = type[Appointment] | AliasedClass[Appointment]


def lapsed_hold(
    now: datetime | ColumnElement[datetime], table: _Table = Appointment
) -> ColumnElement[bool]:
    """An unpaid hold whose time has passed at ``now``: it holds nothing, and is to be released."""
    return and_(
        table.status == AppointmentStatus.pending_payment,
        table.hold_expires_at < now,
    )


def holds_time(
    now: datetime | ColumnElement[datetime], table: _Table = Appointment
) -> ColumnElement[bool]:
    """An appointment that holds its doctor's time at ``now``: not cancelled, not a lapsed hold."""
    return and_(table.status != AppointmentStatus.cancelled, not_(lapsed_hold(now, table)))


def _sql(condition: ColumnElement[bool]) -> str:
    """A condition as PostgreSQL text, for a hand-written statement."""
    dialect = PGDialect()  # type: ignore[no-untyped-call] # SQLAlchemy leaves it untyped
    compiled = condition.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    return str(compiled)


# The conditions over ``appointments a`` at the statement's ``$6`` (now).
_A = aliased(Appointment, name="a")
_NOW = literal_column("$6", DateTime(timezone=True))
_A_HOLDS_TIME = _sql(holds_time(_NOW, _A))
_A_LAPSED = _sql(lapsed_hold(_NOW, _A))

LOCK_PATIENT = "SELECT pg_advisory_xact_lock(hashtextextended('book:' || $1::text, 0))"
"""Taken first: bookings of one patient one at a time, so that the count of their upcoming
appointments and an earlier use of the Idempotency-Key, read next, are current.
``$1`` the patient's id."""

BOOKING_FACTS = f"""
SELECT d.name AS doctor_name, d.time_zone AS doctor_zone, p.consultation_fee AS fee,
       s.time_zone, s.booking_horizon_days, s.min_notice_minutes,
       t.duration_minutes, t.buffer_minutes,
       ARRAY(SELECT ROW(w.weekday, w.starts, w.ends) FROM schedule_windows w
             WHERE w.doctor_id = d.id) AS windows,
       ARRAY(SELECT ROW(e.kind, e.starts_at, e.ends_at) FROM schedule_exceptions e
             WHERE e.doctor_id = d.id AND e.starts_at < $5 AND e.ends_at > $4) AS exceptions,
       ARRAY(SELECT ROW(a.starts_at, a.blocked_until) FROM appointments a
             WHERE a.doctor_id = d.id AND {_A_HOLDS_TIME}
               AND a.starts_at < $5 AND a.blocked_until > $4
               AND a.starts_at > $8) AS held,
       EXISTS (SELECT 1 FROM appointments a WHERE a.doctor_id = d.id AND {_A_LAPSED}) AS lapsed,
       patient.name AS patient_name, patient.time_zone AS patient_zone,
       (SELECT count(*) FROM appointments a
        WHERE a.patient_id = $2 AND a.status IN ('pending_payment', 'scheduled')
          AND a.starts_at > $6) AS upcoming,
       earlier.id AS earlier_id, earlier.request_hash AS earlier_hash
FROM users patient
LEFT JOIN (users d JOIN doctor_profiles p ON p.user_id = d.id AND p.verified_at IS NOT NULL)
       ON d.id = $1 AND d.role = 'doctor' AND d.status = 'active'
LEFT JOIN doctor_schedules s ON s.doctor_id = d.id
LEFT JOIN appointment_type_settings t ON t.doctor_id = s.doctor_id AND t.type = $3
LEFT JOIN appointments earlier ON earlier.patient_id = patient.id AND earlier.idempotency_key = $7
WHERE patient.id = $2
"""  # noqa: S608 - built from constants
"""Everything a booking decides on, in one statement. Parameters: ``$1`` doctor, ``$2``
patient, ``$3`` type, ``$4``/``$5`` the span near the slot (``schedules.near``), ``$6`` now,
``$7`` the Idempotency-Key, ``$8`` the lower bound on the start of appointments that may reach
into the span (``schedules.LONGEST_HOLD``: keeps the index scan to the days around the slot).

The doctor's columns are NULL when they are not listed (the conditions of
``presence.service.listed_doctors``); the schedule's when they offer no such type. ``held`` is
the time held near the slot (:func:`holds_time`, as the slot list reads it); ``lapsed`` says the
doctor has lapsed holds, to be released before the insert (the exclusion constraint still sees
them)."""

WRITE_BOOKING = f"""
WITH appointment AS (
    INSERT INTO appointments (id, doctor_id, patient_id, type, status, starts_at, ends_at,
        blocked_until, time_zone, reason_sealed, hold_expires_at, fee, currency, confirmed_at,
        idempotency_key, request_hash, created_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
    RETURNING id
), reminders AS (
    INSERT INTO appointment_reminders (appointment_id, recipient_id, minutes_before, due_at)
    SELECT appointment.id, r.recipient_id, r.minutes_before, r.due_at
    FROM appointment, unnest($18::uuid[], $19::int[], $20::timestamptz[])
         AS r(recipient_id, minutes_before, due_at)
)
INSERT INTO audit_events ({", ".join(AUDIT_COLUMNS)})
SELECT {", ".join(f"${21 + i}" for i in range(len(AUDIT_COLUMNS)))} FROM appointment
"""  # noqa: S608 - built from constants
"""The appointment, its reminders and its audit row, in one statement. Parameters: ``$1``-``$17``
the appointment's columns in the order listed, ``$18``-``$20`` the reminders' recipients,
minutes before and due times (arrays of one length), then the audit row's
``compliance.service.AUDIT_COLUMNS``."""
