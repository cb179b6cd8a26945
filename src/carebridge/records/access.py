"""Opening a patient's record: whose it is, on what basis (``policy``), and the audit trail of
every clinician read and every write. Grants and the emergency opening are use cases here too,
as is the patient's log of who read what.

The audit rows of the record are ``record.read`` / ``record.write`` / ``record.emergency_access``
/ ``record.grant`` / ``record.revoke`` with ``resource_type = "patient_record"`` and the patient's
id as ``resource_id``, so the access log is one index range; their details hold the section, the
basis and the object's id, never a value.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.accounts.models import Role, User
from carebridge.accounts.service import names_of
from carebridge.compliance.access_log import accesses_of
from carebridge.compliance.service import record
from carebridge.notifications.service import notify, notify_admins
from carebridge.platform.context import CallScope
from carebridge.platform.errors import Conflict, Forbidden, Invalid, NotFound
from carebridge.platform.pagination import Page, keyset_page
from carebridge.records.hooks import NURSE_IN_CARE
from carebridge.records.kinds import RECORD_EMERGENCY_ACCESS, RECORD_SHARED
from carebridge.records.models import EmergencyAccess, RecordGrant, Section
from carebridge.records.policy import (
    ALL_SECTIONS,
    CLINICIANS,
    Basis,
    Subject,
    in_care,
    may_break_glass,
    may_write,
    open_emergency,
    open_grant,
    sections_of,
)
from carebridge.records.schemas import (
    AccessLogEntry,
    EmergencyIn,
    EmergencyOut,
    EmergencyReview,
    GrantIn,
    GrantOut,
)
from carebridge.records.sealed import EMERGENCY_REASON
from carebridge.scheduling import service as scheduling

RESOURCE = "patient_record"


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def _no_record() -> NotFound:
    return NotFound("No such patient record.", code="not_found")


async def _is_patient(db: AsyncSession, patient_id: uuid.UUID) -> bool:
    found = await db.scalar(select(User.id).where(User.id == patient_id, User.role == Role.patient))
    return found is not None


async def basis_of(
    db: AsyncSession, scope: CallScope, actor: Actor, patient_id: uuid.UUID, now: datetime
) -> tuple[Basis, frozenset[Section]] | None:
    """On what basis ``actor`` (a clinician) may read ``patient_id``'s record now, and which
    sections; None: not at all (``policy`` says why, in order)."""
    if actor.role not in CLINICIANS or not await _is_patient(db, patient_id):
        return None
    if actor.role == Role.doctor:
        history = await scheduling.care_history(db, patient_id, actor.id, now)
        if in_care(history.last_ends_at, history.upcoming, now, scope.settings.record_access_days):
            return Basis.care, ALL_SECTIONS
        if await db.scalar(open_emergency(patient_id, actor.id, now).limit(1)) is not None:
            return Basis.emergency, ALL_SECTIONS
    if actor.role == Role.nurse and await NURSE_IN_CARE.get()(db, actor.id, patient_id):
        return Basis.care, ALL_SECTIONS
    granted = await db.scalar(open_grant(patient_id, actor.id, now))
    if granted is not None:
        return Basis.grant, sections_of(granted)
    return None


async def subject_for(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    patient_id: uuid.UUID,
    *,
    now: datetime | None = None,
    record_refusal: bool = True,
) -> Subject:
    """The record of ``patient_id`` as ``actor`` may open it: their own, or a clinician's on a
    basis of ``policy``; 404 for anyone else. A clinician refused a patient's record is on the
    trail (``record.read``, outcome ``denied``, kept whatever becomes of the request): the
    detection rules count such attempts. ``record_refusal=False``: for a caller in the middle
    of other writes, which must not be kept half-done."""
    if actor.role == Role.patient and actor.id == patient_id:
        return Subject(actor.id, actor, Basis.own, ALL_SECTIONS)
    found = await basis_of(db, scope, actor, patient_id, _now(now))
    if found is None:
        if record_refusal and actor.role in CLINICIANS and await _is_patient(db, patient_id):
            await record(
                db,
                action="record.read",
                outcome="denied",
                actor_id=actor.id,
                actor_role=actor.role,
                resource_type=RESOURCE,
                resource_id=patient_id,
                subject_id=patient_id,
                context=scope.origin,
            )
            raise NotFound("No such patient record.", code="not_found", keep_changes=True)
        raise _no_record()
    return Subject(patient_id, actor, found[0], found[1])


async def may_open(db: AsyncSession, scope: CallScope, actor: Actor, patient_id: uuid.UUID) -> bool:
    """Whether ``actor`` may open ``patient_id``'s record now, for a page's link to it (nothing
    is read, so nothing is audited)."""
    if actor.role == Role.patient:
        return actor.id == patient_id
    return await basis_of(db, scope, actor, patient_id, _now(None)) is not None


async def _audit(
    db: AsyncSession, scope: CallScope, subject: Subject, action: str, **details: Any
) -> None:
    await record(
        db,
        action=action,
        actor_id=subject.actor.id,
        actor_role=subject.actor.role,
        resource_type=RESOURCE,
        resource_id=subject.patient_id,
        subject_id=subject.patient_id,
        context=scope.origin,
        basis=subject.basis.value,
        **details,
    )


async def check_read(
    db: AsyncSession, scope: CallScope, subject: Subject, section: Section, **details: Any
) -> None:
    """Refuse a section the subject's basis does not cover (404), and put a clinician's read on
    the trail (before the read: a failed one is on record too)."""
    if section not in subject.sections:
        raise _no_record()
    if subject.by_clinician:
        await _audit(db, scope, subject, "record.read", section=section.value, **details)
    await scope.unlock(db, subject.patient_id)  # the notes are under the patient's data key


async def check_write(
    db: AsyncSession,
    scope: CallScope,
    subject: Subject,
    section: Section,
    object_id: uuid.UUID | None,
    change: str,
    **details: Any,
) -> None:
    """Writes: the patient into any section; a clinician only with a care relationship or an
    emergency opening (a grant shares for reading). Every write is on the trail (``details``:
    what else it says, never a value: an import's row count)."""
    if section not in subject.sections:
        raise _no_record()
    if not may_write(subject, section):
        raise Forbidden(
            "The patient shared their record with you for reading; you may add to it while "
            "you care for them (an appointment).",
            code="read_only_grant",
        )
    await scope.unlock(db, subject.patient_id)  # the notes are under the patient's data key
    await _audit(
        db,
        scope,
        subject,
        "record.write",
        section=section.value,
        change=change,
        object_id=None if object_id is None else str(object_id),
        **details,
    )


async def audit(
    db: AsyncSession, scope: CallScope, subject: Subject, action: str, **details: Any
) -> None:
    """An audit row of the record that is neither a read nor a write (``record.export``)."""
    await _audit(db, scope, subject, action, **details)


# -- break the glass ------------------------------------------------------------------------------


async def break_glass(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    patient_id: uuid.UUID,
    body: EmergencyIn,
    *,
    now: datetime | None = None,
) -> EmergencyOut:
    """A doctor opens a record they have no other basis for, with a written reason: audited,
    and the patient and the administrators are told at once."""
    now = _now(now)
    if not may_break_glass(actor) or not await _is_patient(db, patient_id):
        raise _no_record()
    found = await basis_of(db, scope, actor, patient_id, now)
    if found is not None and found[0] in (Basis.care, Basis.emergency):
        raise Conflict(
            "You can already read this record: no emergency opening is needed.",
            code="record_already_open",
        )
    expires_at = now + timedelta(minutes=scope.settings.record_emergency_minutes)
    row = EmergencyAccess(
        id=uuid.uuid4(), patient_id=patient_id, doctor_id=actor.id, expires_at=expires_at
    )
    await scope.unlock(db, patient_id)
    row.reason_sealed = scope.keyring.seal(EMERGENCY_REASON, row, body.reason)
    db.add(row)
    subject = Subject(patient_id, actor, Basis.emergency, ALL_SECTIONS)
    await _audit(db, scope, subject, "record.emergency_access", object_id=str(row.id))
    doctor = (await names_of(db, [actor.id])).get(actor.id, "A doctor")
    await notify(
        db,
        patient_id,
        RECORD_EMERGENCY_ACCESS.name,
        "Your health record was opened in an emergency",
        f"{doctor} opened your health record in an emergency, giving a reason. "
        "Every read is listed in your record's access log.",
        link="/records/access-log",
    )
    await notify_admins(
        db,
        "A health record was opened in an emergency",
        f"{doctor} broke the glass on a patient's record. Review the reason they gave.",
        data={"patient_id": str(patient_id), "doctor_id": str(actor.id)},
        link="/admin/records/emergency-accesses",
    )
    return EmergencyOut(id=row.id, patient_id=patient_id, expires_at=expires_at)


async def emergency_openings(
    db: AsyncSession, scope: CallScope, actor: Actor, *, cursor: str | None, limit: int
) -> Page[EmergencyReview]:
    """Administrators: every emergency opening, newest first, with its reason (opened from its
    seal: the listing is audited)."""
    page = await keyset_page(
        db, select(EmergencyAccess), EmergencyAccess, cursor=cursor, limit=limit
    )
    ids = {row.doctor_id for row in page.items} | {row.patient_id for row in page.items}
    names = await names_of(db, ids)
    await record(
        db,
        action="record.emergency_reviewed",
        actor_id=actor.id,
        actor_role=actor.role,
        resource_type="record_emergency_access",
        context=scope.origin,
        count=len(page.items),
    )
    await scope.unlock(db, *{row.patient_id for row in page.items})
    items = [
        EmergencyReview(
            id=row.id,
            patient_id=row.patient_id,
            patient_name=names.get(row.patient_id, ""),
            doctor_id=row.doctor_id,
            doctor_name=names.get(row.doctor_id, ""),
            reason=scope.keyring.open_text(EMERGENCY_REASON, row) or "",
            opened_at=row.created_at,
            expires_at=row.expires_at,
        )
        for row in page.items
    ]
    return Page(items=items, next_cursor=page.next_cursor)


# -- grants ---------------------------------------------------------------------------------------


def _grant_out(row: RecordGrant, names: dict[uuid.UUID, str], now: datetime) -> GrantOut:
    return GrantOut(
        id=row.id,
        grantee_id=row.grantee_id,
        grantee_name=names.get(row.grantee_id, ""),
        sections=sorted(sections_of(row.sections)),
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        created_at=row.created_at,
        active=row.revoked_at is None and row.expires_at > now,
    )


async def list_grants(
    db: AsyncSession, actor: Actor, *, now: datetime | None = None
) -> list[GrantOut]:
    """The patient's grants, in force first, newest first."""
    now = _now(now)
    rows = list(
        await db.scalars(
            select(RecordGrant)
            .where(RecordGrant.patient_id == actor.id)
            .order_by(RecordGrant.created_at.desc(), RecordGrant.id.desc())
            .limit(200)
        )
    )
    names = await names_of(db, {row.grantee_id for row in rows})
    outs = [_grant_out(row, names, now) for row in rows]
    return sorted(outs, key=lambda g: not g.active)


async def grant(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    body: GrantIn,
    *,
    now: datetime | None = None,
) -> GrantOut:
    """Share sections with a clinician until ``expires_at``; replaces the clinician's grant in
    force, if any. The clinician is told."""
    now = _now(now)
    if body.expires_at <= now:
        raise Invalid("The grant must end in the future.", code="expires_in_past")
    if body.expires_at > now + timedelta(days=scope.settings.record_grant_max_days):
        raise Invalid(
            f"A grant lasts at most {scope.settings.record_grant_max_days} days; you can renew it.",
            code="expires_too_late",
        )
    grantee = await db.scalar(
        select(User).where(User.id == body.grantee_id, User.role.in_(CLINICIANS))
    )
    if grantee is None:
        raise NotFound("No such doctor or nurse.", code="no_such_clinician")
    await db.execute(
        update(RecordGrant)
        .where(
            RecordGrant.patient_id == actor.id,
            RecordGrant.grantee_id == grantee.id,
            RecordGrant.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    sections = ALL_SECTIONS if "all" in body.sections else frozenset(map(Section, body.sections))
    row = RecordGrant(
        patient_id=actor.id,
        grantee_id=grantee.id,
        sections=sorted(sections),
        expires_at=body.expires_at,
    )
    db.add(row)
    await db.flush()
    subject = Subject(actor.id, actor, Basis.own, ALL_SECTIONS)
    await _audit(
        db,
        scope,
        subject,
        "record.grant",
        object_id=str(row.id),
        grantee_id=str(grantee.id),
        sections=sorted(sections),
    )
    patient = (await names_of(db, [actor.id])).get(actor.id, "A patient")
    await notify(
        db,
        grantee.id,
        RECORD_SHARED.name,
        "A patient shared their health record with you",
        f"{patient} shared their health record with you until "
        f"{body.expires_at:%Y-%m-%d %H:%M} UTC.",
        link=f"/patients/{actor.id}/record",
    )
    await db.refresh(row)
    return _grant_out(row, {grantee.id: grantee.name}, now)


async def revoke(
    db: AsyncSession,
    scope: CallScope,
    actor: Actor,
    grant_id: uuid.UUID,
    *,
    now: datetime | None = None,
) -> None:
    """End a grant now (404 if it is not the patient's; revoking twice is harmless)."""
    now = _now(now)
    row = await db.scalar(
        select(RecordGrant)
        .where(RecordGrant.id == grant_id, RecordGrant.patient_id == actor.id)
        .with_for_update()
    )
    if row is None:
        raise NotFound("No such grant.")
    if row.revoked_at is None:
        row.revoked_at = now
        subject = Subject(actor.id, actor, Basis.own, ALL_SECTIONS)
        await _audit(db, scope, subject, "record.revoke", object_id=str(row.id))


# -- the access log -------------------------------------------------------------------------------


async def access_log(
    db: AsyncSession, actor: Actor, *, cursor: str | None, limit: int
) -> Page[AccessLogEntry]:
    """Who else read or wrote the patient's record, newest first: the record's part of the
    patient's access log (``compliance/access_log.py``)."""
    page = await accesses_of(db, actor.id, resource_type=RESOURCE, cursor=cursor, limit=limit)
    items = [
        AccessLogEntry(
            at=entry.at,
            actor_id=entry.actor_id,
            actor_name=entry.actor_name,
            actor_role=entry.actor_role,
            action=entry.action.removeprefix("record."),
            outcome=entry.outcome,
            section=entry.section,
            basis=entry.basis,
        )
        for entry in page.items
    ]
    return Page(items=items, next_cursor=page.next_cursor)
