"""Walk every task whose jobs hold a lock: a worker killed (SIGKILL) in the middle of such a job
leaves it ``doing`` with its lock held, and every later job of the same row waits behind it. Another
worker must notice that the dead one stopped sending heartbeats and run the job again, so that
what the user waits for happens, once. A locked task added later is walked too, or the walk
fails asking for its scenario.

The module runs on a database of its own: the workers are other processes, so what the tests
write is committed, and prescriptions and payments cannot be deleted afterwards."""

from __future__ import annotations

import ast
import asyncio
import importlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import create_async_engine

from carebridge.app import create_app
from carebridge.compliance import detection, retention
from carebridge.compliance.alert_models import SecurityAlert, TrailPosition
from carebridge.compliance.models import AuditEvent
from carebridge.compliance.retention import RUN_LOCK
from carebridge.compliance.retention_tasks import apply_retention_task
from carebridge.compliance.service import record
from carebridge.config import Settings
from carebridge.messaging import tasks as messaging_tasks
from carebridge.messaging.attachment_models import Attachment
from carebridge.platform.db import Database
from carebridge.platform.jobs import ROW_LOCKED, job_app
from carebridge.platform.migrate import upgrade
from carebridge.platform.registry import TASK_MODULES
from carebridge.prescriptions.models import Prescription
from tests.factories.clamd import ClamdPeer
from tests.factories.databases import fresh_database
from tests.factories.payments import (
    SECRET_KEY,
    WEBHOOK_SECRET,
    FakeStripe,
    Held,
    paid,
    stripe_settings_for,
)
from tests.factories.prescriptions import Json, MakeConsultation
from tests.factories.settings import ROOT, make_settings
from tests.helpers import kill, start_worker, worker_env

# The workers' settings: a worker silent for 2 s is taken for dead.
HEARTBEATS = {
    "CAREBRIDGE_WORKER_HEARTBEAT_SECONDS": "0.5",
    "CAREBRIDGE_WORKER_STALLED_SECONDS": "2",
}


@pytest.fixture(scope="module")
def settings(
    postgres_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    with fresh_database(postgres_server_url) as url:
        yield make_settings(tmp_path_factory.mktemp("locked-jobs"), database_url=url)


@pytest.fixture(scope="module")
async def migrated(settings: Settings) -> None:
    engine = create_async_engine(settings.sqlalchemy_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def database(settings: Settings, migrated: None) -> AsyncIterator[Database]:
    """Committing for real: the workers must see the rows."""
    database = Database.from_settings(settings)
    yield database
    await database.dispose()


@pytest.fixture
def app(settings: Settings, database: Database, stripe_server: FakeStripe) -> FastAPI:
    return create_app(stripe_settings_for(settings, stripe_server), database=database)


@dataclass
class Kit:
    """What the scenarios build with: the app (paid through the local Stripe) and factories."""

    client: httpx.AsyncClient
    database: Database
    stripe: FakeStripe
    worker_env: dict[str, str]  # the app's settings, for `carebridge worker`
    consultation: MakeConsultation
    issued: Callable[..., Awaitable[Json]]
    book: Callable[..., Awaitable[Held]]


@pytest.fixture
def kit(
    client: httpx.AsyncClient,
    settings: Settings,
    database: Database,
    stripe_server: FakeStripe,
    consultation: MakeConsultation,
    issued: Callable[..., Awaitable[Json]],
    book_with: Callable[..., Awaitable[Held]],
) -> Kit:
    env = worker_env(
        settings,
        CAREBRIDGE_PAYMENT_PROVIDER="stripe",
        CAREBRIDGE_STRIPE_SECRET_KEY=SECRET_KEY,
        CAREBRIDGE_STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        CAREBRIDGE_STRIPE_API_BASE=stripe_server.base_url,
        **HEARTBEATS,
    )
    return Kit(client, database, stripe_server, env, consultation, issued, book_with)


@dataclass
class Stall:
    """A queued job of a locked task that will hang mid-run, and how to tell its work got done."""

    stuck: Callable[[], Awaitable[bool]]  # the job has reached the point where it hangs
    release: Callable[[], Awaitable[None]]  # let what hangs go on (idempotent)
    done: Callable[[], Awaitable[bool]]  # what the user waits for has happened
    check: Callable[[], Awaitable[None]]  # ... and happened once


async def someone_waits_on(database: Database, pid: int) -> bool:
    """Another session is waiting for a lock the session ``pid`` holds."""
    async with database.engine.connect() as conn:
        waiting = await conn.scalar(
            text("SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))"),
            {"pid": pid},
        )
    return bool(waiting)


async def prescription_pdf(kit: Kit) -> Stall:
    """The render's last step, marking the stored PDF ready, waits behind a lock this test holds
    on the prescription's row: the PDF is drawn and written, the job is not finished."""
    visit = await kit.consultation()
    prescription_id = (await kit.issued(visit, render=False))["id"]  # issuing queues the job
    holder = await kit.database.engine.connect()
    await holder.begin()
    await holder.execute(
        select(Prescription.id).where(Prescription.id == prescription_id).with_for_update()
    )
    holder_pid = int(await holder.scalar(text("SELECT pg_backend_pid()")) or 0)
    url = f"/api/v1/prescriptions/{prescription_id}/pdf"

    async def stuck() -> bool:
        return await someone_waits_on(kit.database, holder_pid)

    async def release() -> None:
        await holder.close()

    async def done() -> bool:
        answer = await kit.client.get(url, headers=visit.patient.headers)
        if answer.status_code == 409:
            assert answer.json()["code"] == "pdf_not_ready"
            return False
        assert answer.status_code == 200, answer.text
        return True

    async def check() -> None:
        answer = await kit.client.get(url, headers=visit.patient.headers)
        assert answer.headers["content-type"] == "application/pdf"
        assert answer.content.startswith(b"%PDF-")

    return Stall(stuck, release, done, check)


async def payment_refund(kit: Kit) -> Stall:
    """Stripe is slow to answer the refund; it carries the refund out once released, although
    the worker that asked is gone by then."""
    held = await kit.book(kit.client)
    intent = await paid(kit.client, held)
    kit.stripe.hold_refunds()
    cancelled = await kit.client.post(
        f"/api/v1/appointments/{held.appointment_id}/cancel", json={}, headers=held.headers
    )
    assert cancelled.status_code == 200, cancelled.text  # refund pending: its job is queued

    async def stuck() -> bool:
        return kit.stripe.refunds_waiting > 0

    async def release() -> None:
        kit.stripe.release_refunds()

    async def done() -> bool:
        listed = await kit.client.get("/api/v1/payments", headers=held.headers)
        assert listed.status_code == 200, listed.text
        return bool(listed.json()["items"][0]["status"] == "refunded")

    async def check() -> None:
        assert len(kit.stripe.refunds_of(intent["provider_payment_id"])) == 1

    return Stall(stuck, release, done, check)


async def attachment_scan(kit: Kit) -> Stall:
    """clamd (the local peer, which the workers are pointed at) takes the file and does not
    answer: the file is read back and sent, the job is not finished."""
    clamd = ClamdPeer(behaviour="hang")
    kit.worker_env["CAREBRIDGE_CLAMD_URL"] = await clamd.start_tcp()
    visit = await kit.consultation()
    headers = visit.patient.headers
    opened = await kit.client.post(
        "/api/v1/conversations", json={"doctor_id": str(visit.doctor.user.id)}, headers=headers
    )
    assert opened.status_code == 201, opened.text
    note = b"My blood pressure readings this week.\n"
    sent = await kit.client.post(
        f"/api/v1/conversations/{opened.json()['id']}/attachments",
        data={"client_id": str(uuid.uuid4())},
        files=[("files", ("readings.txt", note, "text/plain"))],
        headers=headers,
    )
    assert sent.status_code == 201, sent.text
    attachment_id = uuid.UUID(sent.json()["attachments"][0]["id"])
    # The app here has no clamd (the file is not_scanned): it waits for a scan, as with one.
    async with kit.database.transaction() as db:
        await db.execute(
            update(Attachment).where(Attachment.id == attachment_id).values(scan_state="pending")
        )
    assert await messaging_tasks.defer_scan(attachment_id)
    url = f"/api/v1/attachments/{attachment_id}"

    async def stuck() -> bool:
        return len(clamd.streams) > 0

    async def release() -> None:
        clamd.release()

    async def done() -> bool:
        answer = await kit.client.get(url, headers=headers)
        if answer.status_code == 409:
            assert answer.json()["code"] == "attachment_scan_pending"
            return False
        assert answer.status_code == 200, answer.text
        return True

    async def check() -> None:
        assert (await kit.client.get(url, headers=headers)).content == note
        assert clamd.streams == [note, note]  # the killed worker's scan, and the one after
        await clamd.close()

    return Stall(stuck, release, done, check)


async def retention_run(kit: Kit) -> Stall:
    """Another retention run (this test) holds the run's advisory lock: the daily job waits for
    it before purging anything."""
    holder = await kit.database.engine.connect()
    await holder.execution_options(isolation_level="AUTOCOMMIT")
    await holder.execute(select(func.pg_advisory_lock(RUN_LOCK)))
    holder_pid = int(await holder.scalar(text("SELECT pg_backend_pid()")) or 0)
    await apply_retention_task.defer_async(timestamp=int(time.time()))

    async def stuck() -> bool:
        return await someone_waits_on(kit.database, holder_pid)

    async def release() -> None:
        if not holder.closed:
            await holder.execute(select(func.pg_advisory_unlock(RUN_LOCK)))
            await holder.close()

    async def runs() -> int:
        async with kit.database.transaction() as db:
            count = await db.scalar(
                select(func.count()).where(AuditEvent.action == retention.APPLIED)
            )
        return int(count or 0)

    async def done() -> bool:
        return await runs() > 0

    async def check() -> None:
        assert await runs() == 1

    return Stall(stuck, release, done, check)


SCENARIOS: dict[str, Callable[[Kit], Awaitable[Stall]]] = {
    "compliance.apply_retention": retention_run,
    "prescriptions.render_pdf": prescription_pdf,
    "payments.refund": payment_refund,
    "messaging.scan_attachment": attachment_scan,
}


def locked_tasks() -> list[str]:
    """The tasks of the app (``registry.TASK_MODULES``) whose jobs are deferred with a lock."""
    for module in TASK_MODULES:
        importlib.import_module(module)
    return sorted(
        {
            task.name
            for task in job_app.tasks.values()
            if task.func.__module__ in TASK_MODULES
            and (task.name in ROW_LOCKED or task.lock is not None)
        }
    )


async def run_minutely(queue: str) -> None:
    """Defer the every-minute periodic tasks of ``queue``, as the workers' schedule does each
    minute (a test cannot wait for the minute)."""
    for periodic in job_app.periodic_registry.periodic_tasks.values():
        if periodic.task.queue == queue and periodic.cron == "* * * * *":
            await periodic.task.defer_async(timestamp=int(time.time()))


async def statuses(task_name: str) -> list[str]:
    rows = await job_app.connector.execute_query_all_async(
        "SELECT status::text AS status FROM procrastinate_jobs WHERE task_name = %(name)s "
        "ORDER BY id",
        name=task_name,
    )
    return [row["status"] for row in rows]


async def eventually(condition: Callable[[], Awaitable[bool]], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not await condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


def test_the_walk_finds_the_locked_tasks() -> None:
    assert {"prescriptions.render_pdf", "payments.refund"} <= set(locked_tasks())


@pytest.mark.parametrize("task_name", locked_tasks())
async def test_a_locked_job_whose_worker_was_killed_gets_done(
    task_name: str, kit: Kit, tmp_path: Path
) -> None:
    scenario = SCENARIOS.get(task_name)
    assert scenario is not None, (
        f"jobs of {task_name} hold a lock: add to SCENARIOS in {Path(__file__).name} how to make "
        "one hang mid-run and how to tell its work got done"
    )
    queue = job_app.tasks[task_name].queue
    stall = await scenario(kit)
    log = tmp_path / "workers.log"
    worker = start_worker(kit.worker_env, log, [queue])
    try:
        assert await eventually(stall.stuck, 60), ("the job never hung", log.read_text()[-3000:])
        kill(worker)
        await stall.release()
        assert await statuses(task_name) == ["doing"]  # its lock held by a worker that is gone
        assert not await stall.done()

        worker = start_worker(kit.worker_env, log, [queue, "housekeeping"])

        async def got_done() -> bool:
            await run_minutely("housekeeping")
            await asyncio.sleep(0.9)
            return await stall.done()

        assert await eventually(got_done, 45), (
            f"the work is still not done; jobs of {task_name}: {await statuses(task_name)}",
            log.read_text()[-3000:],
        )
        await stall.check()
        assert await statuses(task_name) == ["succeeded"]  # the same job, run again
    finally:
        await stall.release()
        kill(worker)


def test_every_lock_is_declared_where_the_walk_finds_it() -> None:
    """A job locked by hand (``task.configure(lock=...)``) would escape the walk above."""
    source = ROOT / "src" / "carebridge"
    by_hand = [
        f"{path.relative_to(source)}:{node.lineno}"
        for path in sorted(source.rglob("*.py"))
        if path != source / "platform" / "jobs.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "configure"
        and any(keyword.arg in ("lock", "queueing_lock") for keyword in node.keywords)
    ]
    assert by_hand == [], (
        "declare the locks with @keyed_by_row on the task and defer with defer_for_row "
        "(carebridge.platform.jobs)"
    )


async def test_a_detection_run_whose_worker_was_killed(kit: Kit, tmp_path: Path) -> None:
    """The detection rules' minutely job (``compliance.detect_alerts``) takes the audit trail's
    position row for each batch instead of a queue lock. A worker killed while it waits for (or
    holds) that row loses its transaction: the next run reads the same events and raises their
    alert, once."""
    patient, doctor = uuid.uuid4(), uuid.uuid4()
    async with kit.database.transaction() as db:
        await record(
            db,
            action="record.emergency_access",
            actor_id=doctor,
            actor_role="doctor",
            resource_type="patient_record",
            resource_id=patient,
            subject_id=patient,
        )
        await db.execute(
            insert(TrailPosition).values(reader=detection.READER).on_conflict_do_nothing()
        )
    holder = await kit.database.engine.connect()
    await holder.begin()
    await holder.execute(
        select(TrailPosition.reader)
        .where(TrailPosition.reader == detection.READER)
        .with_for_update()
    )
    holder_pid = await holder.scalar(text("SELECT pg_backend_pid()"))

    async def stuck() -> bool:
        return await someone_waits_on(kit.database, holder_pid)

    async def alerts() -> list[SecurityAlert]:
        async with kit.database.transaction() as db:
            return list(
                await db.scalars(select(SecurityAlert).where(SecurityAlert.subject_id == patient))
            )

    log = tmp_path / "workers.log"
    worker = start_worker(kit.worker_env, log, ["compliance"])
    try:
        await run_minutely("compliance")
        assert await eventually(stuck, 60), ("the run never waited", log.read_text()[-3000:])
        kill(worker)
        await holder.close()
        assert await alerts() == []
        worker = start_worker(kit.worker_env, log, ["compliance"])

        async def raised() -> bool:
            await run_minutely("compliance")
            await asyncio.sleep(0.9)
            return bool(await alerts())

        assert await eventually(raised, 60), log.read_text()[-3000:]
        await asyncio.sleep(2)  # later runs raise nothing more
        assert [a.rule for a in await alerts()] == ["break_the_glass"]
    finally:
        await holder.close()
        kill(worker)
