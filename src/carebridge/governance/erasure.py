"""Erasure: a patient asks to be erased, may cancel during the grace period, and is then erased.

- **Asking** (``request_erasure``): the patient, for themself; the account is erased
  ``CAREBRIDGE_ERASURE_GRACE_DAYS`` (14) later. Refused while an appointment or a home visit is
  still ahead (``409 care_ahead``: cancel or finish it first) or a request is open (``409
  erasure_pending``). The patient is told when it will happen and that they may cancel.
- **Cancelling** (``cancel_erasure``): until the erasure is carried out.
- **Carrying out** (``erase_due``, an hourly job): one request per transaction, row-locked with
  ``SKIP LOCKED`` (two workers never erase the same patient, a dead worker's transaction rolls
  back whole). Every domain's ``ERASURE_RULES`` (``platform/erasure.py``) are applied in
  ``registry.ERASURE_MODULES`` order: identifiers removed or replaced, sessions gone, messages
  and files deleted, health data the law requires the clinic to keep left under legal hold
  until ``hold_until`` (``CAREBRIDGE_MEDICAL_RETENTION_YEARS`` later). A patient who booked care
  during the grace period is postponed a day (and told) rather than erased in the middle of it.
- **Purging** (``purge_held``, run by the retention job): what was held of the patients whose
  hold has ended is deleted, with its files, and the tombstone account with it.

Storage objects of deleted rows are listed in ``erasure_files`` in the same transaction and
deleted after the commit (``delete_erased_files``), so a worker that dies in between leaves a row
that the next run finishes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import ColumnElement, and_, delete, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.compliance.service import record
from carebridge.config import Settings
from carebridge.governance.erasure_kinds import (
    ERASURE_CANCELLED,
    ERASURE_POSTPONED,
    ERASURE_SCHEDULED,
)
from carebridge.governance.erasure_models import ErasureFile, ErasureRequest
from carebridge.notifications.service import notify
from carebridge.platform import erasure
from carebridge.platform.context import SYSTEM, CallScope, RequestContext
from carebridge.platform.crypto import KeyClass
from carebridge.platform.db import Database, lock_for_transaction
from carebridge.platform.errors import Conflict, NotFound
from carebridge.platform.patient_keys import destroy_patient_keys
from carebridge.platform.registry import ERASURE_MODULES
from carebridge.platform.storage import Storage
from carebridge.scheduling.service import has_care_ahead
from carebridge.visits.service import has_open_visit

log = structlog.get_logger(__name__)

POSTPONE = timedelta(days=1)
RESOURCE = "erasure_request"


def _open() -> ColumnElement[bool]:
    """A request neither cancelled nor carried out."""
    return and_(ErasureRequest.cancelled_at.is_(None), ErasureRequest.erased_at.is_(None))


async def _audit(
    db: AsyncSession,
    row: ErasureRequest,
    action: str,
    *,
    actor: Actor | None = None,
    context: RequestContext | None = None,
    **details: Any,
) -> None:
    await record(
        db,
        action=action,
        actor_id=None if actor is None else actor.id,
        actor_role=None if actor is None else actor.role,
        resource_type=RESOURCE,
        resource_id=row.id,
        subject_id=row.patient_id,
        context=context or SYSTEM,
        **details,
    )


async def _care_ahead(db: AsyncSession, patient_id: uuid.UUID, now: datetime) -> bool:
    return await has_care_ahead(db, patient_id, now) or await has_open_visit(db, patient_id)


def _day(at: datetime) -> str:
    return f"{at:%A %d %B %Y}"


async def current_request(db: AsyncSession, actor: Actor) -> ErasureRequest:
    """The caller's open request, else their latest one; 404 when they never asked."""
    row = await db.scalar(
        select(ErasureRequest)
        .where(ErasureRequest.patient_id == actor.id)
        .order_by(ErasureRequest.cancelled_at.is_(None).desc(), ErasureRequest.created_at.desc())
        .limit(1)
    )
    if row is None:
        raise NotFound("You have not asked for your account to be erased.", code="no_erasure")
    return row


async def request_erasure(
    db: AsyncSession, scope: CallScope, actor: Actor, now: datetime | None = None
) -> ErasureRequest:
    """Schedule the erasure of the caller's account after the grace period."""
    now = now or datetime.now(UTC)
    # One open request per patient: the partial unique index holds it; the lock orders two
    # requests of the same patient so the second sees the first.
    await lock_for_transaction(db, f"erasure:{actor.id}")
    if await db.scalar(
        select(ErasureRequest.id).where(ErasureRequest.patient_id == actor.id, _open())
    ):
        raise Conflict("Your account is already scheduled to be erased.", code="erasure_pending")
    if await _care_ahead(db, actor.id, now):
        raise Conflict(
            "You have an appointment or a home visit still ahead: cancel it (or let it take "
            "place) before asking for your account to be erased.",
            code="care_ahead",
        )
    row = ErasureRequest(
        patient_id=actor.id,
        requested_by=actor.id,
        due_at=now + timedelta(days=scope.settings.erasure_grace_days),
    )
    db.add(row)
    await db.flush()
    await _audit(db, row, "erasure.requested", actor=actor, context=scope.origin)
    await notify(
        db,
        actor.id,
        ERASURE_SCHEDULED.name,
        "Your account will be erased",
        f"As you asked, your CareBridge account will be erased on {_day(row.due_at)}. Until "
        "then you can change your mind: cancel it under Account, Delete my account.",
        link="/account/erasure",
    )
    return row


async def cancel_erasure(db: AsyncSession, scope: CallScope, actor: Actor) -> ErasureRequest:
    """Cancel the caller's open request; 404 when none is open."""
    row = await db.scalar(
        select(ErasureRequest)
        .where(ErasureRequest.patient_id == actor.id, _open())
        .with_for_update()
    )
    if row is None:
        raise NotFound("No erasure of your account is scheduled.", code="no_erasure")
    row.cancelled_at = datetime.now(UTC)
    await _audit(db, row, "erasure.cancelled", actor=actor, context=scope.origin)
    await notify(
        db,
        actor.id,
        ERASURE_CANCELLED.name,
        "Your account will not be erased",
        "You cancelled the erasure of your CareBridge account: nothing will be deleted.",
        link="/account/erasure",
    )
    return row


@dataclass(frozen=True)
class Erased:
    request_id: uuid.UUID
    patient_id: uuid.UUID
    rows: dict[str, int]


async def _postpone(db: AsyncSession, row: ErasureRequest, now: datetime) -> None:
    row.due_at = now + POSTPONE
    row.postponed += 1
    await _audit(db, row, "erasure.postponed", reason="care_ahead")
    await notify(
        db,
        row.patient_id,
        ERASURE_POSTPONED.name,
        "The erasure of your account is waiting",
        "You have an appointment or a home visit still ahead, so your account was not erased "
        f"yet. It will be once that is over; next try {_day(row.due_at)}.",
        link="/account/erasure",
        dedup_key=f"erasure-postponed:{row.id}",
        dedup_window=timedelta(days=6),
    )


async def _erase_one(db: AsyncSession, settings: Settings, now: datetime) -> Erased | bool | None:
    """Erase the next due patient in ``db``'s transaction: the result, False when one was
    postponed, None when nothing is due."""
    row = await db.scalar(
        select(ErasureRequest)
        .where(ErasureRequest.due_at <= now, _open())
        .order_by(ErasureRequest.due_at)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if row is None:
        return None
    if await _care_ahead(db, row.patient_id, now):
        await _postpone(db, row, now)
        return False
    return await carry_out(db, settings, row, now)


async def carry_out(
    db: AsyncSession, settings: Settings, row: ErasureRequest, now: datetime
) -> Erased:
    """Erase ``row``'s patient in ``db``'s transaction (``row`` locked by the caller): every
    domain's rules, the files listed for deletion after commit, the hold's end set."""
    outcome = await erasure.erase(db, erasure.rules(ERASURE_MODULES), row.patient_id)
    await _keep_files(db, row.id, outcome.files)
    # Whatever the rules left that the personal key sealed (and every copy of it, backups taken
    # since included) no longer opens.
    await destroy_patient_keys(db, row.patient_id, [KeyClass.personal])
    row.erased_at = now
    row.hold_until = now + timedelta(days=round(365.25 * settings.medical_retention_years))
    row.erased_rows = outcome.rows
    await _audit(db, row, "erasure.completed", rows=sum(outcome.rows.values()))
    return Erased(row.id, row.patient_id, outcome.rows)


async def _keep_files(db: AsyncSession, erasure_id: uuid.UUID, keys: list[str]) -> None:
    if keys:
        await db.execute(
            insert(ErasureFile)
            .values([{"storage_key": key, "erasure_id": erasure_id} for key in keys])
            .on_conflict_do_nothing(index_elements=["storage_key"])
        )


async def erase_due(
    database: Database, settings: Settings, storage: Storage, now: datetime | None = None
) -> list[Erased]:
    """Erase every patient whose grace period has ended (each in its own transaction), then
    delete their files."""
    now = now or datetime.now(UTC)
    done: list[Erased] = []
    while True:
        async with database.transaction() as db:
            result = await _erase_one(db, settings, now)
        if result is None:
            break
        if isinstance(result, Erased):
            log.info(
                "patient_erased", request_id=str(result.request_id), rows=sum(result.rows.values())
            )
            done.append(result)
    await delete_erased_files(database, storage)
    return done


async def purge_held(
    db: AsyncSession, now: datetime, *, dry_run: bool = False, limit: int = 20
) -> int:
    """Delete what was held of erased patients whose hold has ended (at most ``limit``
    patients, rows another transaction holds skipped), in ``db``'s transaction; the rows deleted,
    or with ``dry_run`` the rows that would be, for every such patient."""
    due = (
        select(ErasureRequest)
        .where(
            ErasureRequest.erased_at.is_not(None),
            ErasureRequest.purged_at.is_(None),
            ErasureRequest.hold_until <= now,
        )
        .order_by(ErasureRequest.hold_until)
    )
    declared = erasure.rules(ERASURE_MODULES)
    if dry_run:
        rows = (await db.scalars(due)).all()
        return sum([await erasure.count_held(db, declared, row.patient_id) for row in rows])
    # Lets the immutability trigger of issued prescriptions allow their deletion, in this
    # transaction only.
    await db.execute(text("SELECT set_config('carebridge.purge', 'on', true)"))
    total = 0
    for row in (await db.scalars(due.limit(limit).with_for_update(skip_locked=True))).all():
        outcome = await erasure.purge(db, declared, row.patient_id)
        await _keep_files(db, row.id, outcome.files)
        await destroy_patient_keys(db, row.patient_id, [KeyClass.personal, KeyClass.medical])
        row.purged_at = now
        row.purged_rows = outcome.rows
        # A patient whose held rows were all deleted already still counts one (their request).
        total += max(1, sum(outcome.rows.values()))
        await _audit(db, row, "erasure.purged", rows=sum(outcome.rows.values()))
    return total


async def delete_erased_files(database: Database, storage: Storage) -> int:
    """Delete from storage the objects erasures and purges left to delete; how many went.
    A worker that dies midway leaves their rows: the next run deletes them again (deleting a
    missing object is nothing)."""
    async with database.transaction() as db:
        keys = (await db.scalars(select(ErasureFile.storage_key).limit(1000))).all()
    for key in keys:
        await storage.delete(key)
    if keys:
        async with database.transaction() as db:
            await db.execute(delete(ErasureFile).where(ErasureFile.storage_key.in_(keys)))
    return len(keys)
