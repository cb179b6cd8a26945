"""Data export (GDPR Articles 15 and 20, HIPAA's right of access): the rules.

A patient, or an administrator on their behalf (audited ``on_behalf``: a detection rule watches
for it), asks for an export; the row is written in the request's transaction (pending) and the
build job deferred after the commit. One export is in progress per patient at a time (409,
held by a partial unique index too), and ``CAREBRIDGE_EXPORT_DAILY_LIMIT`` may be asked for in
24 hours (429).

The job claims the row (pending, or building with a claim older than ``STALE_CLAIM``: a worker
that died) with one conditional ``UPDATE``, so two workers never build the same export; it
gathers every domain's part (``export_archive``), seals the ZIP into the storage (associated
data ``export:<id>``), marks the row ready, tells the patient (the ``EXPORT_READY`` hook:
notifications sends it) and records ``export.built``. A failed build goes back to pending for the
job's retries, and is failed after ``MAX_ATTEMPTS``.

Only the patient downloads (an administrator who asked for it does not: 404), each download
recorded; ``CAREBRIDGE_EXPORT_DAYS`` after it was ready the file is deleted by a periodic job and
the export answers 410.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.accounts.actors import Actor
from carebridge.accounts.admin import get_user
from carebridge.accounts.models import Role
from carebridge.accounts.service import names_of
from carebridge.compliance import export_archive
from carebridge.compliance.export_models import IN_PROGRESS, DataExport, ExportStatus
from carebridge.compliance.hooks import EXPORT_READY, ExportReady
from carebridge.compliance.service import record
from carebridge.config import Settings
from carebridge.platform.context import SYSTEM, CallScope, RequestContext
from carebridge.platform.db import Database
from carebridge.platform.errors import Conflict, Gone, NotFound, RateLimited
from carebridge.platform.storage import FileMissing, sealed_storage_for

log = structlog.get_logger(__name__)

STALE_CLAIM = timedelta(minutes=15)
MAX_ATTEMPTS = 3
PAGE_LINK = "/account/data"
RESOURCE = "data_export"


def aad(export_id: uuid.UUID) -> bytes:
    return f"export:{export_id}".encode()


def storage_key(row: DataExport) -> str:
    return f"exports/{row.patient_id}/{row.id}.zip"


def current_status(row: DataExport, now: datetime | None = None) -> ExportStatus:
    """The status a reader sees: a ready export past its time is expired even before the
    periodic job deleted its file."""
    status = ExportStatus(row.status)
    now = now or datetime.now(UTC)
    if status == ExportStatus.ready and row.expires_at is not None and row.expires_at <= now:
        return ExportStatus.expired
    return status


async def audit(
    db: AsyncSession,
    action: str,
    row: DataExport,
    actor: Actor | None = None,
    context: RequestContext = SYSTEM,
    **details: Any,
) -> None:
    """One audit row about an export, naming its patient as subject (``actor`` None: a job)."""
    await record(
        db,
        action=action,
        actor_id=actor.id if actor else None,
        actor_role=actor.role if actor else None,
        resource_type=RESOURCE,
        resource_id=row.id,
        subject_id=row.patient_id,
        context=context,
        **details,
    )


def _not_found() -> NotFound:
    return NotFound("No such export.", code="export_not_found")


async def _check_may_request(db: AsyncSession, scope: CallScope, patient_id: uuid.UUID) -> None:
    in_progress = await db.scalar(
        select(DataExport.id).where(
            DataExport.patient_id == patient_id, DataExport.status.in_(IN_PROGRESS)
        )
    )
    if in_progress is not None:
        raise _in_progress()
    since = datetime.now(UTC) - timedelta(days=1)
    recent = await db.scalars(
        select(DataExport.created_at)
        .where(DataExport.patient_id == patient_id, DataExport.created_at > since)
        .order_by(DataExport.created_at)
    )
    times = list(recent)
    if len(times) >= scope.settings.export_daily_limit:
        wait = times[-scope.settings.export_daily_limit] + timedelta(days=1) - datetime.now(UTC)
        raise RateLimited(
            f"At most {scope.settings.export_daily_limit} exports in 24 hours: try again later.",
            retry_after=max(1, int(wait.total_seconds()) + 1),
            code="export_rate_limited",
        )


def _in_progress() -> Conflict:
    return Conflict(
        "An export is already being prepared: wait for it to be ready.", code="export_in_progress"
    )


async def _check_patient(db: AsyncSession, actor: Actor, patient_id: uuid.UUID) -> None:
    """An administrator asks for a patient's export: 404 unless ``patient_id`` is a patient."""
    try:
        user = await get_user(db, patient_id) if actor.role == Role.admin else None
    except NotFound:
        user = None
    if user is None or user.role != Role.patient:
        raise NotFound("No such patient.", code="patient_not_found")


async def request_export(
    db: AsyncSession, scope: CallScope, actor: Actor, patient_id: uuid.UUID
) -> DataExport:
    """Ask for an export of ``patient_id``'s data: the patient themselves, or an administrator
    (on their behalf: the patient must exist and be a patient, 404 otherwise)."""
    from carebridge.compliance.export_tasks import defer_build_after_commit  # tasks import us

    on_behalf = actor.id != patient_id
    if on_behalf:
        await _check_patient(db, actor, patient_id)
    await _check_may_request(db, scope, patient_id)
    row = DataExport(
        id=uuid.uuid4(), patient_id=patient_id, requested_by_id=actor.id, on_behalf=on_behalf
    )
    try:
        async with db.begin_nested():
            db.add(row)
            await db.flush()
    except IntegrityError:
        raise _in_progress() from None
    await db.refresh(row)
    await audit(db, "export.requested", row, actor, scope.origin, on_behalf=on_behalf)
    defer_build_after_commit(db, row.id)
    return row


async def get_export(db: AsyncSession, actor: Actor, export_id: uuid.UUID) -> DataExport:
    """One of the caller's own exports (404 for anyone else's)."""
    row: DataExport | None = await db.scalar(
        select(DataExport).where(DataExport.id == export_id, DataExport.patient_id == actor.id)
    )
    if row is None:
        raise _not_found()
    return row


async def latest_export(db: AsyncSession, actor: Actor) -> DataExport | None:
    """The caller's most recent export, if any (the "Download my data" page shows it)."""
    row: DataExport | None = await db.scalar(
        select(DataExport)
        .where(DataExport.patient_id == actor.id)
        .order_by(DataExport.created_at.desc(), DataExport.id.desc())
        .limit(1)
    )
    return row


@dataclass(frozen=True)
class ExportDownload:
    filename: str
    content: bytes


def _gone() -> Gone:
    return Gone(
        "This export has expired and its file was deleted: ask for a new one.",
        code="export_expired",
    )


async def download(
    db: AsyncSession, scope: CallScope, actor: Actor, export_id: uuid.UUID
) -> ExportDownload:
    """The ZIP, for the patient alone; 409 while it is being prepared, 410 once expired."""
    row = await get_export(db, actor, export_id)
    status = current_status(row)
    if status == ExportStatus.expired:
        raise _gone()
    if status != ExportStatus.ready or row.storage_key is None:
        raise Conflict("This export is not ready.", code="export_not_ready")
    storage = sealed_storage_for(scope.settings, scope.keyring)
    try:
        content = await storage.get(row.storage_key, associated_data=aad(row.id))
    except FileMissing:
        log.error("data_export_missing", export_id=str(row.id))
        raise _gone() from None
    await audit(db, "export.downloaded", row, actor, scope.origin, size=len(content))
    stamp = (row.ready_at or row.created_at).strftime("%Y%m%d")
    return ExportDownload(f"carebridge-export-{stamp}.zip", content)


async def claim(database: Database, export_id: uuid.UUID) -> DataExport | None:
    """Take the export for this job: pending, or building under a claim gone stale (its worker
    died). One statement, so two workers never both take it."""
    now = datetime.now(UTC)
    async with database.transaction() as db:
        row: DataExport | None = await db.scalar(
            update(DataExport)
            .where(
                DataExport.id == export_id,
                or_(
                    DataExport.status == ExportStatus.pending,
                    (DataExport.status == ExportStatus.building)
                    & (DataExport.claimed_at < now - STALE_CLAIM),
                ),
            )
            .values(status=ExportStatus.building, claimed_at=now, attempts=DataExport.attempts + 1)
            .returning(DataExport)
        )
    return row


async def build(database: Database, settings: Settings, export_id: uuid.UUID) -> bool:
    """Build one export if it is this job's to build; False when it was not (taken by another
    worker, or done). A failure leaves it pending for a retry, failed after its last attempt."""
    row = await claim(database, export_id)
    if row is None:
        return False
    try:
        await _build_claimed(database, CallScope.system(settings), row)
    except Exception:
        await _release(database, row)
        raise
    return True


async def _build_claimed(database: Database, scope: CallScope, row: DataExport) -> None:
    at = datetime.now(UTC)
    async with database.transaction() as db:
        parts = await export_archive.collect(db, scope, row.patient_id)
        name = (await names_of(db, [row.patient_id])).get(row.patient_id, "")
    content = await export_archive.archive(
        parts,
        export_id=row.id,
        patient_id=row.patient_id,
        patient_name=name,
        clinic_name=scope.settings.clinic_name,
        at=at,
    )
    key = storage_key(row)
    await sealed_storage_for(scope.settings, scope.keyring).put(
        key, content, associated_data=aad(row.id)
    )
    async with database.transaction() as db:
        done = await db.scalar(
            update(DataExport)
            .where(
                DataExport.id == row.id,
                DataExport.status == ExportStatus.building,
                DataExport.claimed_at == row.claimed_at,
            )
            .values(
                status=ExportStatus.ready,
                storage_key=key,
                size=len(content),
                ready_at=func.now(),
                expires_at=func.now() + timedelta(days=scope.settings.export_days),
            )
            .returning(DataExport.id)
        )
        if done is None:
            return  # another worker took it over meanwhile and finishes it
        await _tell_ready(db, row, len(content), len(parts))
    log.info("data_export_built", export_id=str(row.id), size=len(content))


async def _tell_ready(db: AsyncSession, row: DataExport, size: int, documents: int) -> None:
    await audit(db, "export.built", row, size=size, documents=documents)
    await EXPORT_READY.fire(db, ExportReady(row.patient_id, row.id, PAGE_LINK))


async def _release(database: Database, row: DataExport) -> None:
    """After a failed build: back to pending for a retry, or failed after the last attempt."""
    failed = row.attempts >= MAX_ATTEMPTS
    async with database.transaction() as db:
        await db.execute(
            update(DataExport)
            .where(DataExport.id == row.id, DataExport.claimed_at == row.claimed_at)
            .values(status=ExportStatus.failed if failed else ExportStatus.pending)
        )
    log.error("data_export_failed", export_id=str(row.id), attempt=row.attempts, final=failed)


async def unfinished_exports(
    database: Database, *, older_than: timedelta, limit: int = 200
) -> list[uuid.UUID]:
    """Exports still pending ``older_than`` after they were asked for (their job was lost), or
    building under a stale claim (their worker died): the sweep queues them again."""
    now = datetime.now(UTC)
    async with database.transaction() as db:
        found = await db.scalars(
            select(DataExport.id)
            .where(
                or_(
                    (DataExport.status == ExportStatus.pending)
                    & (DataExport.created_at < now - older_than),
                    (DataExport.status == ExportStatus.building)
                    & (DataExport.claimed_at < now - STALE_CLAIM),
                )
            )
            .order_by(DataExport.created_at)
            .limit(limit)
        )
        return list(found)


async def expire_exports(database: Database, settings: Settings, *, batch: int = 100) -> int:
    """Delete the files of the exports past their time and mark them expired; returns how many.
    Rows are taken with ``SKIP LOCKED``: two workers share the work."""
    storage = sealed_storage_for(settings, CallScope.system(settings).keyring)
    async with database.transaction() as db:
        rows = list(
            await db.scalars(
                select(DataExport)
                .where(DataExport.status == ExportStatus.ready, DataExport.expires_at <= func.now())
                .order_by(DataExport.expires_at)
                .limit(batch)
                .with_for_update(skip_locked=True)
            )
        )
        for row in rows:
            if row.storage_key is not None:
                await storage.delete(row.storage_key)
            row.status = ExportStatus.expired
            row.storage_key = None
            await audit(db, "export.expired", row)
    return len(rows)
