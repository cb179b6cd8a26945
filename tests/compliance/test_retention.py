"""Retention: each class of data loses what is older than its period and keeps the rest; a dry
run counts the same rows and changes nothing; a run is audited; the audit trail is kept at least
six years, by configuration and by the database."""

from __future__ import annotations

import asyncio
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from carebridge.accounts.models import AuthSession, OneTimeToken, RefreshToken, Role, User
from carebridge.accounts.tokens import KeyStore
from carebridge.compliance.models import AuditEvent
from carebridge.compliance.retention import APPLIED, Applied, apply, apply_class
from carebridge.compliance.seal import all_final, seal_pending
from carebridge.compliance.verify import verify
from carebridge.config import Settings
from carebridge.messaging.models import Conversation, Message
from carebridge.notifications.models import Delivery, Notification
from carebridge.platform.context import CallScope
from carebridge.platform.db import Database
from carebridge.platform.retention import DataClass, load_data_classes
from tests.factories.settings import TEST_SECRET
from tests.factories.users import user_maker
from tests.helpers import carebridge, clean_env

DAY = timedelta(days=1)

# Every table a class purges from, with what "a row still there" means for it.
COUNTED = {
    "procrastinate_jobs": "SELECT count(*) FROM procrastinate_jobs",
    "auth_sessions": "SELECT count(*) FROM auth_sessions",
    "refresh_tokens": "SELECT count(*) FROM refresh_tokens",
    "one_time_tokens": "SELECT count(*) FROM one_time_tokens",
    "notifications": "SELECT count(*) FROM notifications",
    "notification_deliveries": "SELECT count(*) FROM notification_deliveries",
    "message bodies": "SELECT count(*) FROM messages WHERE body_sealed IS NOT NULL",
    "visit_positions": "SELECT count(*) FROM visit_positions",
    "audit_events": "SELECT count(*) FROM audit_events",
}


async def table_counts(database: Database) -> dict[str, int]:
    async with database.transaction() as db:
        return {name: int(await db.scalar(text(sql)) or 0) for name, sql in COUNTED.items()}


def by_name() -> dict[str, DataClass]:
    return {data_class.name: data_class for data_class in load_data_classes()}


@dataclass
class World:
    """One row just past its class's period ("old") and one just within it ("new"), per class."""

    old: dict[str, uuid.UUID]
    new: dict[str, uuid.UUID]
    patient_id: uuid.UUID


async def make_world(database: Database, settings: Settings, now: datetime) -> World:
    classes = by_name()

    def past(name: str) -> datetime:
        return classes[name].cutoff(settings, now) - DAY

    def within(name: str) -> datetime:
        return classes[name].cutoff(settings, now) + DAY

    make_user = user_maker(database)
    patient = await make_user(Role.patient)
    doctors = [await make_user(Role.doctor) for _ in range(3)]  # one care thread each
    old: dict[str, uuid.UUID] = {}
    new: dict[str, uuid.UUID] = {}
    async with database.transaction() as db:
        for kept, at in ((old, past("sessions")), (new, within("sessions"))):
            session = AuthSession(
                user_id=patient.id,
                idle_expires_at=at,
                absolute_expires_at=now + DAY,
                revoked_at=None,
            )
            db.add(session)
            await db.flush()
            db.add(RefreshToken(session_id=session.id, token_hash=os.urandom(32)))
            kept["sessions"] = session.id
        for kept, at in ((old, past("one_time_tokens")), (new, within("one_time_tokens"))):
            token = OneTimeToken(
                user_id=patient.id, purpose="verify_email", token_hash=os.urandom(32), expires_at=at
            )
            db.add(token)
            await db.flush()
            kept["one_time_tokens"] = token.id
        for kept, at in ((old, past("notifications")), (new, within("notifications"))):
            kept["notifications"] = await _notification(db, patient, at, delivery="sent")
        # An old notification whose email is still to be sent is kept: nothing is lost.
        new["unsent notification"] = await _notification(
            db, patient, past("notifications"), delivery="pending"
        )
        for kept, at in ((old, past("delivery_logs")), (new, within("delivery_logs"))):
            notification_id = await _notification(db, patient, now, delivery=None)
            delivery = Delivery(
                notification_id=notification_id, channel="email", status="sent", updated_at=at
            )
            db.add(delivery)
            await db.flush()
            kept["delivery_logs"] = delivery.id
        for doctor, (kept, closed) in zip(
            doctors,
            (
                (old, past("message_content")),
                (new, within("message_content")),
                (new, None),  # an open conversation: kept, however old
            ),
            strict=True,
        ):
            kind = "open conversation" if closed is None else "message_content"
            kept[kind] = await _message(db, patient, doctor, closed_at=closed)
    return World(old, new, patient.id)


async def _notification(
    db: AsyncSession, recipient: User, at: datetime, *, delivery: str | None
) -> uuid.UUID:
    notification = Notification(
        recipient_id=recipient.id, kind="test", title="Hello", body="A notice", created_at=at
    )
    db.add(notification)
    await db.flush()
    if delivery is not None:
        db.add(
            Delivery(
                notification_id=notification.id, channel="email", status=delivery, updated_at=at
            )
        )
        await db.flush()
    return notification.id


async def _message(
    db: AsyncSession, patient: User, doctor: User, *, closed_at: datetime | None
) -> uuid.UUID:
    conversation = Conversation(
        kind="care", patient_id=patient.id, doctor_id=doctor.id, last_seq=1, closed_at=closed_at
    )
    db.add(conversation)
    await db.flush()
    message = Message(
        conversation_id=conversation.id,
        seq=1,
        sender_id=patient.id,
        client_id=uuid.uuid4(),
        body_sealed=b"sealed text",
    )
    db.add(message)
    await db.flush()
    return message.id


async def still_there(database: Database, world: World) -> dict[str, bool]:
    """For each row of the world: is it (its message's text) still there?"""
    tables = {
        "sessions": AuthSession,
        "one_time_tokens": OneTimeToken,
        "notifications": Notification,
        "unsent notification": Notification,
        "delivery_logs": Delivery,
    }
    found: dict[str, bool] = {}
    async with database.transaction() as db:
        for label, rows in (("old", world.old), ("new", world.new)):
            for name, row_id in rows.items():
                if name in tables:
                    model = tables[name]
                    there = await db.scalar(select(func.count()).where(model.id == row_id))
                else:
                    there = await db.scalar(
                        select(func.count()).where(
                            Message.id == row_id, Message.body_sealed.is_not(None)
                        )
                    )
                found[f"{label} {name}"] = bool(there)
    return found


def counts_of(applied: list[Applied]) -> dict[str, int]:
    return {a.data_class.name: a.count for a in applied}


async def test_every_class_purges_what_is_past_its_period_and_keeps_the_rest(
    database: Database, settings: Settings
) -> None:
    now = datetime.now(UTC)
    world = await make_world(database, settings, now)
    scope = CallScope.system(settings)
    before = await table_counts(database)

    dry = await apply(database, scope, dry_run=True, now=now)

    assert await table_counts(database) == before  # nothing changed, not even the audit trail
    assert [a.data_class.name for a in dry] == list(by_name())
    for name in world.old:
        assert counts_of(dry)[name] >= 1, name
    assert all(there for there in (await still_there(database, world)).values())

    real = await apply(database, scope, now=now)

    assert counts_of(real) == counts_of(dry)
    found = await still_there(database, world)
    assert {name: there for name, there in found.items() if name.startswith("old")} == {
        f"old {name}": False for name in world.old
    }
    assert all(there for name, there in found.items() if name.startswith("new")), found
    async with database.transaction() as db:
        refresh_tokens = await db.scalar(
            select(func.count()).where(RefreshToken.session_id == world.old["sessions"])
        )
        cleared = await db.get(Message, world.old["message_content"])
        audited = (
            await db.scalars(
                select(AuditEvent).where(AuditEvent.action == APPLIED).order_by(AuditEvent.seq)
            )
        ).all()
        cleared_audit = (
            await db.scalars(
                select(AuditEvent).where(
                    AuditEvent.action == "conversation.content_cleared",
                    AuditEvent.resource_id == str(cleared.conversation_id if cleared else None),
                )
            )
        ).all()
    assert refresh_tokens == 0  # gone with their session
    assert cleared is not None  # a tombstone keeps the message's place
    assert cleared.deleted_at is not None
    assert cleared.deleted_by is None
    assert [(a.subject_id, a.details) for a in cleared_audit] == [
        (world.patient_id, {"messages": 1, "reason": "retention"})
    ]
    assert len(audited) == 1  # the real run, not the dry one
    assert audited[0].details == {"counts": counts_of(real)}
    assert audited[0].resource_type == "retention"

    # Again: nothing left to purge.
    assert set(counts_of(await apply(database, scope, now=now)).values()) <= {0}


async def test_the_last_runs_counts_are_in_the_metrics(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    now = datetime.now(UTC)
    await make_world(database, settings, now)
    real = await apply(database, CallScope.system(settings), now=now)

    scraped = (await client.get("/metrics")).text

    for name, count in counts_of(real).items():
        assert f'carebridge_retention_purged_rows{{data_class="{name}"}} {float(count)}' in scraped
    assert "carebridge_retention_last_run_timestamp_seconds " in scraped


def test_audit_events_are_kept_at_least_six_years(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="retention_audit_years"):
        Settings(data_dir=tmp_path, retention_audit_years=5, _env_file=None)  # type: ignore[call-arg]
    assert Settings(data_dir=tmp_path, _env_file=None).retention_audit_years == 6  # type: ignore[call-arg]
    # ... and the service refuses to start with less.
    refused = carebridge(
        "check",
        env=clean_env(CAREBRIDGE_DATA_DIR=str(tmp_path), CAREBRIDGE_RETENTION_AUDIT_YEARS="5"),
    )
    assert refused.returncode == 1
    assert "RETENTION_AUDIT_YEARS" in refused.stderr.upper()


async def test_the_database_deletes_audit_events_only_six_years_old(engine: AsyncEngine) -> None:
    """Whatever the application sends: the purge function refuses a recent cutoff, and a
    DELETE of its own is refused, even with the purge's flag set."""
    async with engine.connect() as conn:
        with pytest.raises(DBAPIError, match="at least six years"):
            await conn.execute(
                text("SELECT compliance_purge_audit(now() - interval '5 years', 10, false)")
            )
    async with engine.connect() as conn:
        await conn.execute(text("SET carebridge.audit_purge = 'on'"))
        with pytest.raises(DBAPIError, match="permission denied"):
            await conn.execute(
                text("DELETE FROM audit_events WHERE at < now() - interval '7 years'")
            )


async def test_audit_events_go_as_whole_sealed_batches_older_than_the_period(
    fresh: Database, fresh_owner_url: str, settings: Settings
) -> None:
    """On a database of its own: the trail's batches start at its first event."""
    database = fresh
    owner_engine = create_async_engine(
        make_url(fresh_owner_url).set(drivername="postgresql+asyncpg")
    )
    try:
        await _sealed_batches_go(database, owner_engine, settings)
    finally:
        await owner_engine.dispose()


async def _sealed_batches_go(
    database: Database, owner_engine: AsyncEngine, settings: Settings
) -> None:
    now = datetime.now(UTC)
    seven_years_ago = now - timedelta(days=7 * 366)
    async with database.transaction() as db:
        before = await db.scalar(select(func.count()).select_from(AuditEvent))
        assert before == 0, "a database of its own: the trail starts with these events"
        for years in (8, 7):  # two old batches of two events each
            for _ in range(2):
                db.add(
                    AuditEvent(
                        action="test.old", outcome="success", at=now - timedelta(days=years * 366)
                    )
                )
        db.add(AuditEvent(action="test.old", outcome="success", at=seven_years_ago))
        db.add(AuditEvent(action="test.recent", outcome="success", at=now))  # ... in one batch
    # Sealed by the seal itself, two events a batch (after every transaction on the server that
    # could still write an earlier event has ended).
    for _ in range(600):
        async with database.transaction() as db:
            if await all_final(db):
                break
        await asyncio.sleep(0.1)
    sealed = await seal_pending(database, KeyStore(settings), 2)
    assert [batch.number for batch in sealed] == [1, 2, 3]
    audit = by_name()["audit_events"]
    scope = CallScope.system(settings)
    cutoff = audit.cutoff(settings, now)
    # Two whole batches are older than six years; the third holds a recent event.
    assert await apply_class(database, scope, audit, cutoff, dry_run=True) == 4
    assert await apply_class(database, scope, audit, cutoff, dry_run=False) == 4
    async with database.transaction() as db:
        left = (
            await db.scalars(
                select(AuditEvent.action).where(AuditEvent.action.in_(["test.old", "test.recent"]))
            )
        ).all()
    async with owner_engine.connect() as owner:
        batches = (await owner.scalars(text("SELECT number FROM audit_batches"))).all()
    assert sorted(left) == ["test.old", "test.recent"]  # the third batch, whole
    assert batches == [3]
    # The trail still verifies: it starts at the earliest batch left.
    async with owner_engine.connect() as owner:
        raw = (await owner.get_raw_connection()).driver_connection
        assert raw is not None
        report = await verify(raw)
    assert report.problem is None, report.problem
    assert (report.first_batch, report.batches, report.events) == (3, 1, 2)


def test_the_command_prints_each_class_and_a_dry_run_changes_nothing(
    fresh_url: str, tmp_path: Path
) -> None:
    """`carebridge retention run [--dry-run]` as an operator runs it, on a database of its own."""

    async def world() -> dict[str, int]:
        engine = create_async_engine(make_url(fresh_url).set(drivername="postgresql+asyncpg"))
        database = Database(engine)
        try:
            settings = Settings(data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
            await make_world(database, settings, datetime.now(UTC))
            return await table_counts(database)
        finally:
            await engine.dispose()

    async def counts() -> dict[str, int]:
        engine = create_async_engine(make_url(fresh_url).set(drivername="postgresql+asyncpg"))
        try:
            return await table_counts(Database(engine))
        finally:
            await engine.dispose()

    before = asyncio.run(world())
    env = clean_env(
        CAREBRIDGE_DATA_DIR=str(tmp_path),
        CAREBRIDGE_DATABASE_URL=fresh_url,
        CAREBRIDGE_ENCRYPTION_KEY=TEST_SECRET,
        CAREBRIDGE_SECRET_KEY=TEST_SECRET,
    )

    dry = carebridge("retention", "run", "--dry-run", env=env)

    assert dry.returncode == 0, dry.stderr
    assert "dry run: nothing changed" in dry.stdout
    assert "would purge" in dry.stdout
    for name in by_name():
        assert name in dry.stdout
    assert asyncio.run(counts()) == before

    real = carebridge("retention", "run", env=env)

    assert real.returncode == 0, real.stderr
    assert "purged" in real.stdout
    after = asyncio.run(counts())
    assert after["one_time_tokens"] == before["one_time_tokens"] - 1
    assert after["auth_sessions"] == before["auth_sessions"] - 1
    assert after["message bodies"] == before["message bodies"] - 1
    # retention.applied, and the conversation whose messages were cleared
    assert after["audit_events"] == before["audit_events"] + 2


async def test_two_runs_at_once_purge_each_row_once(fresh: Database, settings: Settings) -> None:
    """Two workers (or a worker and the command) at the same moment, on a database of the
    test's own: the second run waits for the first and finds nothing left."""
    now = datetime.now(UTC)
    await make_world(fresh, settings, now)
    scope = CallScope.system(settings)
    dry = counts_of(await apply(fresh, scope, dry_run=True, now=now))

    first, second = await asyncio.gather(apply(fresh, scope, now=now), apply(fresh, scope, now=now))

    both = {name: counts_of(first)[name] + counts_of(second)[name] for name in dry}
    assert both == dry
    assert 0 in (sum(counts_of(first).values()), sum(counts_of(second).values()))
    async with fresh.transaction() as db:
        runs = await db.scalar(select(func.count()).where(AuditEvent.action == APPLIED))
    assert runs == 2
