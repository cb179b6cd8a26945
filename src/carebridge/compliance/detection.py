"""Detection rules: reading the audit trail for what an administrator must look at, and raising
a security alert for it (``security_alerts``).

A job (``compliance/detection_tasks.py``) walks the final events (``compliance/final.py``) in
the trail's ``(xact, seq)`` order from the position it reached last time (a row of
``audit_trail_positions``, locked while it works: a second worker waits, then goes on from where
the first stopped). Each batch's alerts and the new position are written in one transaction, so
a batch is read once, whatever happens to a worker. The rules:

- ``record_snooping``: a clinician read, or was refused, the records of more than
  ``alert_record_patients`` different patients within an hour without a care relationship (a
  grant, an emergency opening, or a refusal);
- ``break_the_glass``: any emergency opening of a record (``record.emergency_access``);
- ``failed_signins``: ``alert_failed_signins`` failed sign-ins (``auth.login``,
  ``auth.mfa_verify``) from one address within an hour,
  across at least ``alert_failed_signin_accounts`` accounts;
- ``bulk_export``: an audit trail CSV export of more than ``alert_export_rows`` rows, or a
  patient's data export requested by an administrator.

An alert is deduplicated per rule, scope (the actor, the address) and window (the hour of the
event that fired it). Each new one is told to every administrator (through
``compliance.hooks.ALERT_RAISED``, which notifications subscribes to), counted by rule in the
metrics (read from the table at scrape time) and recorded (``security.alert_raised``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.models import Role
from carebridge.compliance.alert_models import SecurityAlert, TrailPosition
from carebridge.compliance.final import ORDER, final_after
from carebridge.compliance.hooks import ALERT_RAISED, AlertRaised
from carebridge.compliance.models import AuditEvent
from carebridge.compliance.service import record
from carebridge.config import Settings
from carebridge.platform.db import Database

READER = "detection"
BATCH = 1000
HOUR = timedelta(hours=1)

# The audit rows the rules look at (the domains that write them say so in their docstrings).
RECORD_RESOURCE = "patient_record"
RECORD_READ = "record.read"
EMERGENCY_ACCESS = "record.emergency_access"
AUDIT_EXPORTED = "audit.exported"
EXPORT_REQUESTED = "export.requested"
CLINICIAN_ROLES = (Role.doctor.value, Role.nurse.value)
# The steps of signing in whose failures accounts records with the address (a wrong password or
# an unknown email; a wrong second factor): counted on the (action, at) index.
SIGN_IN_STEPS = ("auth.login", "auth.mfa_verify")

RULES = ("record_snooping", "break_the_glass", "failed_signins", "bulk_export")


@dataclass(frozen=True)
class Alert:
    """An alert a rule wants raised (once per rule, scope and window)."""

    rule: str
    severity: str
    scope_key: str
    window_start: datetime
    actor_id: uuid.UUID | None = None
    ip: str | None = None
    subject_id: uuid.UUID | None = None
    details: dict[str, Any] = field(default_factory=dict)


def _hour_of(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def _latest(events: Iterable[AuditEvent], key: Any) -> dict[tuple[Any, datetime], datetime]:
    """The latest instant of the events per (key, hour): where a rule counts back an hour."""
    latest: dict[tuple[Any, datetime], datetime] = {}
    for event in events:
        slot = (key(event), _hour_of(event.at))
        latest[slot] = max(latest.get(slot, event.at), event.at)
    return latest


# -- the rules ------------------------------------------------------------------------------------


def _without_care() -> ColumnElement[bool]:
    """A clinician's record read on another basis than care, or refused."""
    return and_(
        AuditEvent.resource_type == RECORD_RESOURCE,
        AuditEvent.action == RECORD_READ,
        func.coalesce(AuditEvent.details["basis"].astext, "") != "care",
    )


def _is_snooping_candidate(event: AuditEvent) -> bool:
    return (
        event.action == RECORD_READ
        and event.resource_type == RECORD_RESOURCE
        and event.actor_role in CLINICIAN_ROLES
        and event.actor_id is not None
        and event.details.get("basis") != "care"
    )


async def record_snooping(
    db: AsyncSession, settings: Settings, events: list[AuditEvent]
) -> list[Alert]:
    alerts = []
    candidates = [e for e in events if _is_snooping_candidate(e)]
    for (actor_id, hour), until in _latest(candidates, lambda e: e.actor_id).items():
        patients = await db.scalar(
            select(func.count(AuditEvent.subject_id.distinct())).where(
                AuditEvent.actor_id == actor_id,
                _without_care(),
                AuditEvent.at > until - HOUR,
                AuditEvent.at <= until,
            )
        )
        if (patients or 0) > settings.alert_record_patients:
            alerts.append(
                Alert(
                    "record_snooping",
                    "high",
                    str(actor_id),
                    hour,
                    actor_id=actor_id,
                    details={"patients": patients, "threshold": settings.alert_record_patients},
                )
            )
    return alerts


async def break_the_glass(
    db: AsyncSession, settings: Settings, events: list[AuditEvent]
) -> list[Alert]:
    return [
        Alert(
            "break_the_glass",
            "high",
            f"{event.actor_id}:{event.subject_id}",
            _hour_of(event.at),
            actor_id=event.actor_id,
            subject_id=event.subject_id,
            details={"emergency_access_id": event.details.get("object_id")},
        )
        for event in events
        if event.action == EMERGENCY_ACCESS and event.outcome == "success"
    ]


def _is_failed_signin(event: AuditEvent) -> bool:
    return event.action in SIGN_IN_STEPS and event.outcome == "failure" and bool(event.ip)


async def failed_signins(
    db: AsyncSession, settings: Settings, events: list[AuditEvent]
) -> list[Alert]:
    alerts = []
    candidates = [e for e in events if _is_failed_signin(e)]
    for (ip, hour), until in _latest(candidates, lambda e: e.ip).items():
        # An unknown email has no account id: those failures count as one account together.
        accounts = func.coalesce(AuditEvent.resource_id, "")
        found = (
            await db.execute(
                select(func.count(), func.count(accounts.distinct())).where(
                    AuditEvent.action.in_(SIGN_IN_STEPS),
                    AuditEvent.outcome == "failure",
                    AuditEvent.ip == ip,
                    AuditEvent.at > until - HOUR,
                    AuditEvent.at <= until,
                )
            )
        ).one()
        failures, distinct = int(found[0]), int(found[1])
        if (
            failures >= settings.alert_failed_signins
            and distinct >= settings.alert_failed_signin_accounts
        ):
            alerts.append(
                Alert(
                    "failed_signins",
                    "medium",
                    ip,
                    hour,
                    ip=ip,
                    details={"failures": failures, "accounts": distinct},
                )
            )
    return alerts


def _is_bulk_export(settings: Settings, event: AuditEvent) -> bool:
    if event.action == AUDIT_EXPORTED:
        return int(event.details.get("count") or 0) > settings.alert_export_rows
    return event.action == EXPORT_REQUESTED and event.actor_role == Role.admin.value


async def bulk_export(
    db: AsyncSession, settings: Settings, events: list[AuditEvent]
) -> list[Alert]:
    return [
        Alert(
            "bulk_export",
            "medium",
            str(event.actor_id),
            _hour_of(event.at),
            actor_id=event.actor_id,
            subject_id=event.subject_id,
            details={"action": event.action, "count": event.details.get("count")},
        )
        for event in events
        if event.actor_id is not None and _is_bulk_export(settings, event)
    ]


DETECTORS = (record_snooping, break_the_glass, failed_signins, bulk_export)


# -- raising --------------------------------------------------------------------------------------

_TITLES = {
    "record_snooping": "A clinician read many patients' records without a care relationship",
    "break_the_glass": "A health record was opened in an emergency",
    "failed_signins": "Many failed sign-ins from one address",
    "bulk_export": "A bulk export of data",
}


async def raise_alert(db: AsyncSession, alert: Alert) -> uuid.UUID | None:
    """Write ``alert`` unless the same rule fired for the same scope in the same window; a new
    one is told to every administrator and recorded. Returns the new alert's id."""
    alert_id = await db.scalar(
        insert(SecurityAlert)
        .values(
            rule=alert.rule,
            severity=alert.severity,
            scope_key=alert.scope_key,
            actor_id=alert.actor_id,
            ip=alert.ip,
            subject_id=alert.subject_id,
            window_start=alert.window_start,
            window_end=alert.window_start + HOUR,
            details=alert.details,
        )
        .on_conflict_do_nothing(
            index_elements=[SecurityAlert.rule, SecurityAlert.scope_key, SecurityAlert.window_start]
        )
        .returning(SecurityAlert.id)
    )
    if not isinstance(alert_id, uuid.UUID):
        return None
    await ALERT_RAISED.fire(
        db,
        AlertRaised(
            alert_id=alert_id,
            rule=alert.rule,
            severity=alert.severity,
            title=_TITLES[alert.rule],
            body=f"Security alert ({alert.severity}): {_TITLES[alert.rule].lower()}. "
            "Review it and acknowledge it on the security alerts page.",
            link="/admin/security-alerts",
        ),
    )
    await record(
        db,
        action="security.alert_raised",
        resource_type="security_alert",
        resource_id=alert_id,
        subject_id=alert.subject_id,
        rule=alert.rule,
        severity=alert.severity,
        actor=None if alert.actor_id is None else str(alert.actor_id),
        address=alert.ip,
    )
    return alert_id


# -- the walk -------------------------------------------------------------------------------------


async def _position(db: AsyncSession) -> TrailPosition:
    """The reader's position, its row locked until the commit (a second worker waits here)."""
    await db.execute(insert(TrailPosition).values(reader=READER).on_conflict_do_nothing())
    position = await db.scalar(
        select(TrailPosition)
        .where(TrailPosition.reader == READER)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert position is not None
    return position


async def detect_batch(db: AsyncSession, settings: Settings) -> tuple[int, int]:
    """Read the next batch of final events after the position, raise what the rules find and
    move the position: ``(events read, alerts raised)``."""
    position = await _position(db)
    events = list(
        await db.scalars(
            select(AuditEvent)
            .where(final_after(position.xact, position.seq))
            .order_by(*ORDER)
            .limit(BATCH)
        )
    )
    if not events:
        return 0, 0
    raised = 0
    for detector in DETECTORS:
        for alert in await detector(db, settings, events):
            raised += await raise_alert(db, alert) is not None
    position.xact, position.seq = events[-1].xact, events[-1].seq
    return len(events), raised


async def detect(database: Database, settings: Settings) -> int:
    """Walk every final event not read yet, a batch per transaction; returns the alerts
    raised. Running it again at once reads nothing and raises nothing."""
    raised = 0
    while True:
        async with database.transaction() as db:
            read, new = await detect_batch(db, settings)
        raised += new
        if read < BATCH:
            return raised


__all__ = ["RULES", "Alert", "detect", "detect_batch", "raise_alert"]
