"""Hand-written SQL of scheduling, and the rule of which appointments hold a doctor's time.

**Holding time.** Every appointment that is not cancelled holds its time (start to end plus
buffer), except an unpaid hold whose ``hold_expires_at`` has passed: it is *lapsed*, and holds
nothing from that instant on, although it stays ``pending_payment`` until it is released (by the
minutely sweep, or by the next booking or move that wants its time). The rule is written once,
as SQLAlchemy conditions (:func:`lapsed_hold`, :func:`holds_time`); the slot list and the
reschedule check use them in ORM queries, the sweep to find what to release, and the booking's
statement below includes their compiled text, so all of them agree on every slot.

**The listed doctor** rule is the directory's (``directory.policy``): the booking's facts
include its rendered text, as the slot list and the doctor's profile use its ORM condition.

**The booking** is the hot path of the service: it is written in hand-made SQL on the session's
own connection (``platform.db.driver_connection``), three statements after the caller's session
check: the patient's lock, the facts, and the writes. Each is a ``platform.statements.Statement``
with its parameters named by a record. (Through the ORM it took 14 statements and
most of the request's CPU: docs/performance.md.)
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Select,
    TextClause,
    and_,
    func,
    literal_column,
    not_,
    select,
    text,
)
from sqlalchemy.orm import aliased
from sqlalchemy.orm.util import AliasedClass

from carebridge.compliance.service import AUDIT_COLUMNS
from carebridge.directory.policy import listed_doctor_sql
from carebridge.platform.statements import Statement, condition_sql
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


# The statuses of appointments that took or hold place (a care history counts them), and those
# of the ones still ahead among them.
_HELD = (
    AppointmentStatus.scheduled,
    AppointmentStatus.in_progress,
    AppointmentStatus.completed,
    AppointmentStatus.no_show,
)
_AHEAD = (AppointmentStatus.scheduled, AppointmentStatus.in_progress)


def care_history_select(
    patient_id: uuid.UUID | ColumnElement[uuid.UUID],
    doctor_id: uuid.UUID | ColumnElement[uuid.UUID],
    now: datetime | ColumnElement[datetime],
) -> Select[datetime, int]:
    """What a patient and a doctor have had together (``service.CareHistory``), one row: the end
    of their latest appointment that took or holds place (booked and confirmed, or held: not
    cancelled, not an unpaid hold) and how many of them are still ahead at ``now``. The
    messaging send renders it over its own names (``messaging/queries.py``)."""
    return select(
        func.max(Appointment.ends_at).label("last_ends_at"),
        func.count()
        .filter(Appointment.ends_at > now, Appointment.status.in_(_AHEAD))
        .label("upcoming"),
    ).where(
        Appointment.patient_id == patient_id,
        Appointment.doctor_id == doctor_id,
        Appointment.status.in_(_HELD),
    )


class PatientLock(NamedTuple):
    patient_key: str  # the patient's id, as text


LOCK_PATIENT = Statement(
    "SELECT pg_advisory_xact_lock(hashtextextended('book:' || :patient_key::text, 0))",
    PatientLock,
)
"""Taken first: bookings of one patient one at a time, so that the count of their upcoming
appointments and an earlier use of the Idempotency-Key, read next, are current. Uses no rule."""


class BookingQuestion(NamedTuple):
    doctor_id: uuid.UUID
    patient_id: uuid.UUID
    type: str
    since: datetime  # the span near the slot (``schedules.near``)
    until: datetime
    now: datetime
    idempotency_key: str | None
    held_since: datetime  # the earliest start of an appointment that may reach into the span


# The rules over the statement's aliases: ``appointments a`` at ``:now``; ``users d`` with
# ``doctor_profiles p``.
_A = aliased(Appointment, name="a")
_NOW = literal_column(":now", DateTime(timezone=True))
_A_HOLDS_TIME = condition_sql(holds_time(_NOW, _A))
_A_LAPSED = condition_sql(lapsed_hold(_NOW, _A))
_D_LISTED = listed_doctor_sql("d", "p")

BOOKING_FACTS = Statement(
    f"""
SELECT d.name AS doctor_name, d.time_zone AS doctor_zone, p.consultation_fee AS fee,
       s.time_zone, s.booking_horizon_days, s.min_notice_minutes,
       t.duration_minutes, t.buffer_minutes,
       ARRAY(SELECT ROW(w.weekday, w.starts, w.ends) FROM schedule_windows w
             WHERE w.doctor_id = d.id) AS windows,
       ARRAY(SELECT ROW(e.kind, e.starts_at, e.ends_at) FROM schedule_exceptions e
             WHERE e.doctor_id = d.id AND e.starts_at < :until AND e.ends_at > :since)
         AS exceptions,
       ARRAY(SELECT ROW(a.starts_at, a.blocked_until) FROM appointments a
             WHERE a.doctor_id = d.id AND {_A_HOLDS_TIME}
               AND a.starts_at < :until AND a.blocked_until > :since
               AND a.starts_at > :held_since) AS held,
       EXISTS (SELECT 1 FROM appointments a WHERE a.doctor_id = d.id AND {_A_LAPSED}) AS lapsed,
       patient.name AS patient_name, patient.time_zone AS patient_zone,
       (SELECT count(*) FROM appointments a
        WHERE a.patient_id = :patient_id AND a.status IN ('pending_payment', 'scheduled')
          AND a.starts_at > :now) AS upcoming,
       earlier.id AS earlier_id, earlier.request_hash AS earlier_hash
FROM users patient
LEFT JOIN (users d JOIN doctor_profiles p ON p.user_id = d.id)
       ON d.id = :doctor_id AND {_D_LISTED}
LEFT JOIN doctor_schedules s ON s.doctor_id = d.id
LEFT JOIN appointment_type_settings t ON t.doctor_id = s.doctor_id AND t.type = :type
LEFT JOIN appointments earlier
       ON earlier.patient_id = patient.id AND earlier.idempotency_key = :idempotency_key
WHERE patient.id = :patient_id
""",  # noqa: S608 - built from constants
    BookingQuestion,
)
"""Everything a booking decides on, in one statement (one row: the patient's own).

The doctor's columns are NULL unless ``doctor_id`` is a listed doctor
(``directory.policy.listed_doctor``); the schedule's when they offer no such type. ``held`` is
the time held near the slot (:func:`holds_time`, as the slot list reads it); ``lapsed`` says the
doctor has lapsed holds (:func:`lapsed_hold`), to be released before the insert (the exclusion
constraint still sees them); ``upcoming`` counts the patient's appointments still to come;
``earlier_*`` is the booking made before with the same Idempotency-Key. ``held_since``
(``schedules.LONGEST_HOLD`` before the span) keeps the index scan to the days around the slot."""


class NewBooking(NamedTuple):
    appointment: Appointment  # its columns, as the service built it
    recipient_ids: list[uuid.UUID]  # the reminders, one per index of these three
    minutes_before: list[int]
    due_at: list[datetime]
    audit: Mapping[str, Any]  # the audit row, ``compliance.service.audit_values``


_APPOINTMENT_COLUMNS = (
    "id", "doctor_id", "patient_id", "type", "status", "starts_at", "ends_at", "blocked_until",
    "time_zone", "reason_sealed", "hold_expires_at", "fee", "currency", "confirmed_at",
    "idempotency_key", "request_hash", "created_at",
)  # fmt: skip


def _values(record: str, columns: tuple[str, ...]) -> str:
    return ", ".join(f":{record}.{column}" for column in columns)


WRITE_BOOKING = Statement(
    f"""
WITH appointment AS (
    INSERT INTO appointments ({", ".join(_APPOINTMENT_COLUMNS)})
    VALUES ({_values("appointment", _APPOINTMENT_COLUMNS)})
    RETURNING id
), reminders AS (
    INSERT INTO appointment_reminders (appointment_id, recipient_id, minutes_before, due_at)
    SELECT appointment.id, r.recipient_id, r.minutes_before, r.due_at
    FROM appointment,
         unnest(:recipient_ids::uuid[], :minutes_before::int[], :due_at::timestamptz[])
         AS r(recipient_id, minutes_before, due_at)
)
INSERT INTO audit_events ({", ".join(AUDIT_COLUMNS)})
SELECT {_values("audit", AUDIT_COLUMNS)} FROM appointment
""",  # noqa: S608 - built from constants
    NewBooking,
)
"""Writes a booking decided on: the appointment, its reminders and its audit row, in one
statement. Decides nothing (the exclusion constraints refuse a taken slot); uses no rule."""


class DueReminders(NamedTuple):
    now: datetime
    batch: int  # the most reminders claimed at once


CLAIM_DUE_REMINDERS: TextClause = text(
    """
    UPDATE appointment_reminders AS r
    SET sent_at = :now
    FROM (
        SELECT appointment_id, recipient_id, minutes_before
        FROM appointment_reminders
        WHERE sent_at IS NULL AND due_at <= :now
        ORDER BY due_at
        LIMIT :batch
        FOR UPDATE SKIP LOCKED
    ) AS due
    WHERE r.appointment_id = due.appointment_id
      AND r.recipient_id = due.recipient_id
      AND r.minutes_before = due.minutes_before
      AND r.sent_at IS NULL
    RETURNING r.appointment_id, r.recipient_id, r.minutes_before, r.due_at
    """
)
"""Claims a batch of reminders due at ``now`` (on the ORM session, parameters by name from
:class:`DueReminders`): rows locked by a concurrent run are skipped, rows it has already claimed
no longer match ``sent_at IS NULL`` (re-checked after the lock), so no row is claimed twice.
Hand-written for ``SKIP LOCKED`` in an ``UPDATE ... FROM``; uses no rule."""
