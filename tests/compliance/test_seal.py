"""The seal of the audit trail: final events sealed in the trail's order into signed, chained
batches (a late commit sealed, never skipped; two sealers at once make one chain), and
``audit verify`` naming the first event or batch changed, deleted or inserted.

Sealing needs events of ended transactions, so these tests commit, in a database of their own
(``fresh``). Tampering is done as the database's owner (the test server's superuser) with
``session_replication_role = replica``, which switches the append-only triggers off: what only
someone with the server's keys could do, and what the seal is there to reveal."""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import json
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client import generate_latest
from sqlalchemy import select, text
from typer.testing import CliRunner

from carebridge.accounts.tokens import KeyStore
from carebridge.cli import cli
from carebridge.compliance import metrics as seal_metrics
from carebridge.compliance.models import AuditEvent
from carebridge.compliance.seal import all_final, seal_pending
from carebridge.compliance.seal_hash import batch_hash, canonical, leaf_hash, merkle_root
from carebridge.compliance.seal_models import AuditBatch
from carebridge.compliance.service import record
from carebridge.compliance.verify import Problem, Report, verify
from carebridge.config import Settings
from carebridge.platform.db import Database
from carebridge.platform.jobs import job_app
from carebridge.platform.metrics import Metrics
from carebridge.platform.registry import TASK_MODULES
from tests.factories.settings import TEST_SECRET


@pytest.fixture
def keys(settings: Settings) -> KeyStore:
    return KeyStore(settings)


async def write(database: Database, count: int, action: str = "probe.seal") -> None:
    """``count`` events, each committed in a transaction of its own."""
    for n in range(count):
        async with database.transaction() as db:
            await record(db, action=action, resource_type="probe", n=n, note="café")


async def settle(database: Database) -> None:
    """Wait until every event written so far is final. Transaction ids belong to the whole
    server: a transaction of another database on it (another test session's) holds the seal
    back until it ends."""
    for _ in range(600):
        async with database.transaction() as db:
            if await all_final(db):
                return
        await asyncio.sleep(0.1)
    raise AssertionError("a transaction on the server kept running for a minute")


async def trail(database: Database) -> list[tuple[int, int]]:
    """Every event's (xact, seq), in the trail's order."""
    async with database.transaction() as db:
        rows = await db.execute(select(AuditEvent.xact, AuditEvent.seq).order_by("xact", "seq"))
        return [(xact, seq) for xact, seq in rows]


async def batches(database: Database) -> list[AuditBatch]:
    async with database.transaction() as db:
        return list((await db.scalars(select(AuditBatch).order_by(AuditBatch.number))).all())


async def sealed_positions(database: Database) -> list[tuple[int, int]]:
    """The (xact, seq) of the events the batches cover, batch after batch."""
    async with database.transaction() as db:
        covered = await db.execute(
            text(
                "SELECT e.xact, e.seq FROM audit_batches b JOIN audit_events e ON (e.xact, e.seq) "
                "BETWEEN (b.first_xact, b.first_seq) AND (b.last_xact, b.last_seq) "
                "ORDER BY b.number, e.xact, e.seq"
            )
        )
        return [(xact, seq) for xact, seq in covered]


@pytest.fixture
async def owner(fresh_owner_url: str) -> AsyncIterator[asyncpg.Connection]:
    """The database's owner, in a transaction rolled back afterwards, with the append-only
    triggers switched off."""
    conn = await asyncpg.connect(fresh_owner_url)
    transaction = conn.transaction()
    await transaction.start()
    await conn.execute("SET LOCAL session_replication_role = replica")
    yield conn
    await transaction.rollback()
    await conn.close()


async def event_at(conn: asyncpg.Connection, index: int) -> asyncpg.Record:
    """The ``index``-th event in the trail's order."""
    row = await conn.fetchrow(
        "SELECT id, seq, xact FROM audit_events ORDER BY xact, seq OFFSET $1 LIMIT 1", index
    )
    assert row is not None
    return row


async def test_final_events_are_sealed_in_order_into_a_signed_chain(
    fresh: Database, keys: KeyStore
) -> None:
    await write(fresh, 5)
    await settle(fresh)
    written = await seal_pending(fresh, keys, batch_size=2)

    assert [(s.number, s.events) for s in written] == [(1, 2), (2, 2), (3, 1)]
    rows = await batches(fresh)
    assert [row.hash for row in rows] == [s.hash for s in written]
    assert rows[0].prev_hash == bytes(32)
    assert [row.prev_hash for row in rows[1:]] == [row.hash for row in rows[:-1]]
    assert await sealed_positions(fresh) == await trail(fresh)
    assert await seal_pending(fresh, keys, batch_size=2) == []  # nothing new

    await write(fresh, 1)
    await settle(fresh)
    (fourth,) = await seal_pending(fresh, keys, batch_size=2)
    assert (fourth.number, fourth.events) == (4, 1)
    assert await sealed_positions(fresh) == await trail(fresh)


async def test_an_event_committed_late_is_sealed_not_skipped(
    fresh: Database, fresh_url: str, keys: KeyStore
) -> None:
    await write(fresh, 1)
    await settle(fresh)
    late = await asyncpg.connect(fresh_url)
    try:
        # ``late`` starts first (it has the smaller transaction id) and writes after another
        # transaction has written and committed (a larger seq).
        transaction = late.transaction()
        await transaction.start()
        late_xact = await late.fetchval("SELECT pg_current_xact_id()::text::bigint")
        await write(fresh, 1, action="probe.early_commit")
        await late.execute(
            "INSERT INTO audit_events (action, outcome, details) "
            "VALUES ('probe.late_commit', 'success', '{}')"
        )
        (first,) = await seal_pending(fresh, keys, batch_size=10)
        assert first.events == 1  # the event before the late transaction began, only
        await transaction.commit()
    finally:
        await late.close()

    await settle(fresh)
    (second,) = await seal_pending(fresh, keys, batch_size=10)
    assert second.events == 2
    async with fresh.transaction() as db:
        actions = await db.execute(
            select(AuditEvent.action, AuditEvent.xact, AuditEvent.seq).order_by("xact", "seq")
        )
        ordered = list(actions)
    assert [a for a, *_ in ordered] == ["probe.seal", "probe.late_commit", "probe.early_commit"]
    assert ordered[1][1] == late_xact
    assert ordered[1][2] > ordered[2][2]  # written after the early commit: a larger seq
    assert await sealed_positions(fresh) == await trail(fresh)
    report = await verified(fresh_url)
    assert (report.ok, report.batches, report.events, report.pending) == (True, 2, 3, 0)


async def test_two_sealers_at_once_make_one_chain(fresh: Database, keys: KeyStore) -> None:
    await write(fresh, 12)
    await settle(fresh)
    first, second = await asyncio.gather(
        seal_pending(fresh, keys, batch_size=3), seal_pending(fresh, keys, batch_size=3)
    )
    numbers = sorted(s.number for s in [*first, *second])
    assert numbers == [1, 2, 3, 4]  # each number once, no gap
    assert sum(s.events for s in [*first, *second]) == 12
    assert await sealed_positions(fresh) == await trail(fresh)  # each event in one batch


async def verified(url: str) -> Report:
    conn = await asyncpg.connect(url)
    try:
        return await verify(conn, chunk=4)  # small chunks: the reads cross batch boundaries
    finally:
        await conn.close()


@pytest.fixture
async def sealed(fresh: Database, keys: KeyStore) -> list[AuditBatch]:
    """Ten events in three batches (4, 4, 2), and one more written after, not sealed."""
    await write(fresh, 10)
    await settle(fresh)
    await seal_pending(fresh, keys, batch_size=4)
    await write(fresh, 1, action="probe.pending")
    return await batches(fresh)


async def test_verify_passes_on_an_intact_trail(
    sealed: list[AuditBatch], fresh_url: str, fresh: Database
) -> None:
    report = await verified(fresh_url)
    assert report.problem is None
    assert (report.first_batch, report.last_batch, report.batches) == (1, 3, 3)
    assert (report.events, report.pending) == (10, 1)
    assert report.last_hash == sealed[-1].hash
    # What is sealed hashes what the verifier reads: the leaves are the events' own.
    async with fresh.transaction() as db:
        conn = await db.connection()
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        rows = await raw.fetch(
            "SELECT id, seq, xact, at, actor_id, actor_role, action, resource_type, resource_id, "
            "subject_id, outcome, ip, user_agent, request_id, details::text FROM audit_events "
            "ORDER BY xact, seq LIMIT 4"
        )
    assert merkle_root([leaf_hash(row) for row in rows]) == sealed[0].root


async def test_an_edited_event_is_named(
    sealed: list[AuditBatch], owner: asyncpg.Connection
) -> None:
    target = await event_at(owner, 5)
    await owner.execute("UPDATE audit_events SET outcome = 'failure' WHERE id = $1", target["id"])
    problem = (await verify(owner, chunk=4)).problem
    assert problem is not None
    assert (problem.kind, problem.batch, problem.seq, problem.event_id) == (
        "changed",
        2,
        target["seq"],
        str(target["id"]),
    )


async def test_a_deleted_event_is_named(
    sealed: list[AuditBatch], owner: asyncpg.Connection
) -> None:
    target = await event_at(owner, 2)
    await owner.execute("DELETE FROM audit_events WHERE id = $1", target["id"])
    problem = (await verify(owner, chunk=4)).problem
    assert problem is not None
    assert (problem.kind, problem.batch, problem.seq) == ("deleted", 1, target["seq"])
    assert "a sealed event is gone" in problem.describe()


async def forge(owner: asyncpg.Connection, seq: int, xact: int) -> uuid.UUID:
    """Insert an event at the position (xact, seq) of one's choosing; its id."""
    forged = uuid.uuid4()
    await owner.execute(
        "INSERT INTO audit_events (id, seq, xact, action, outcome) OVERRIDING SYSTEM VALUE "
        "VALUES ($1, $2, $3, 'probe.forged', 'success')",
        forged,
        seq,
        xact,
    )
    return forged


async def first_problem(owner: asyncpg.Connection) -> Problem:
    problem = (await verify(owner, chunk=4)).problem
    assert problem is not None
    return problem


async def test_an_event_inserted_into_a_sealed_range_is_named(
    sealed: list[AuditBatch], owner: asyncpg.Connection
) -> None:
    # Between the 6th and 7th events: the 6th's transaction, a seq after it.
    before = await event_at(owner, 5)
    forged = await forge(owner, before["seq"] + 1000, before["xact"])
    problem = await first_problem(owner)
    assert (problem.kind, problem.batch, problem.seq, problem.event_id) == (
        "inserted",
        2,
        before["seq"] + 1000,
        str(forged),
    )


async def test_a_second_row_with_a_sealed_seq_is_named_inserted(
    sealed: list[AuditBatch], owner: asyncpg.Connection
) -> None:
    copied = await event_at(owner, 9)
    forged = await forge(owner, copied["seq"], copied["xact"])
    # The two rows share a position: either may be read first.
    problem = await first_problem(owner)
    assert (problem.kind, problem.batch, problem.event_id) == ("inserted", 3, str(forged))
    forged = await forge(owner, copied["seq"], copied["xact"])  # two copies now: one is first
    problem = await first_problem(owner)
    assert (problem.kind, problem.batch) == ("inserted", 3)
    assert problem.event_id != str(copied["id"])


async def test_an_event_inserted_between_batches_or_before_them_is_named(
    sealed: list[AuditBatch], owner: asyncpg.Connection
) -> None:
    forged = await forge(owner, -5, -(2**63))  # any position: the check reads from the start
    problem = await first_problem(owner)
    assert (problem.kind, problem.batch, problem.seq) == ("inserted", 1, -5)
    assert "before the earliest batch" in problem.detail

    await owner.execute("DELETE FROM audit_events WHERE id = $1", forged)
    # After batch 1's last event, before batch 2's first (a later transaction).
    after = sealed[0]
    await forge(owner, after.last_seq + 1000, after.last_xact)
    problem = await first_problem(owner)
    assert (problem.kind, problem.batch, problem.seq) == ("inserted", 2, after.last_seq + 1000)
    assert "between batches" in problem.detail


async def test_an_edited_batch_is_found(
    sealed: list[AuditBatch], owner: asyncpg.Connection
) -> None:
    await owner.execute(
        "UPDATE audit_batches SET sealed_at = sealed_at - interval '1 hour' WHERE number = 2"
    )
    problem = (await verify(owner)).problem
    assert problem is not None
    assert (problem.kind, problem.batch) == ("batch_changed", 2)

    # A byte of a stored leaf hash changed: the leaves no longer give the root.
    await owner.execute(
        "UPDATE audit_batches SET leaves = overlay(leaves PLACING '\\x00'::bytea FROM 20) "
        "WHERE number = 1"
    )
    problem = (await verify(owner)).problem
    assert problem is not None
    assert (problem.kind, problem.batch, problem.detail) == (
        "batch_changed",
        1,
        "its leaves do not give its root",
    )


async def test_a_batch_rehashed_without_the_key_fails_its_signature(
    sealed: list[AuditBatch], owner: asyncpg.Connection
) -> None:
    """Whoever edits a batch and recomputes its hash cannot sign it: with the service's key id
    and another key's signature, or with a key of their own, the signature check fails."""
    batch = sealed[2]
    earlier = batch.sealed_at - timedelta(hours=1)
    forged = batch_hash(
        batch.prev_hash,
        batch.root,
        batch.number,
        (batch.first_xact, batch.first_seq),
        (batch.last_xact, batch.last_seq),
        batch.event_count,
        earlier,
    )
    signature = Ed25519PrivateKey.generate().sign(forged)
    await owner.execute(
        "UPDATE audit_batches SET sealed_at = $1, hash = $2, signature = $3 WHERE number = 3",
        earlier,
        forged,
        signature,
    )
    problem = (await verify(owner)).problem
    assert problem is not None
    assert (problem.kind, problem.batch) == ("bad_signature", 3)
    assert f"key {batch.kid} did not sign it" in problem.detail

    await owner.execute("UPDATE audit_batches SET kid = 'made-up' WHERE number = 3")
    problem = (await verify(owner)).problem
    assert problem is not None
    assert (problem.kind, problem.detail) == ("bad_signature", "unknown signing key made-up")


async def test_the_check_starts_at_the_earliest_batch_left_by_retention(
    sealed: list[AuditBatch], owner: asyncpg.Connection
) -> None:
    # Retention purges the oldest batch with its events: the check starts at batch 2.
    first = sealed[0]
    await owner.execute("DELETE FROM audit_batches WHERE number = 1")
    await owner.execute(
        "DELETE FROM audit_events WHERE (xact, seq) <= ($1, $2)", first.last_xact, first.last_seq
    )
    report = await verify(owner, chunk=4)
    assert report.problem is None
    assert (report.first_batch, report.batches, report.events, report.pending) == (2, 2, 6, 1)

    await owner.execute("DELETE FROM audit_batches WHERE number = 2")
    await owner.execute("DELETE FROM audit_events WHERE action = 'probe.pending'")
    report = await verify(owner, chunk=4)
    # Batch 2's events are still there, before the earliest batch left: inserted, as it looks.
    assert report.problem is not None
    assert (report.problem.kind, report.problem.batch) == ("inserted", 3)


async def test_a_gap_between_batches_is_a_failure(
    sealed: list[AuditBatch], owner: asyncpg.Connection
) -> None:
    await owner.execute("DELETE FROM audit_batches WHERE number = 2")
    problem = (await verify(owner)).problem
    assert problem is not None
    assert (problem.kind, problem.batch, problem.detail) == (
        "gap",
        3,
        "batches 2 to 2 are missing",
    )


def _run_cli(tmp_path: Path, database_url: str) -> tuple[int, str, str]:
    env: dict[str, str | None] = {n: None for n in os.environ if n.startswith("CAREBRIDGE_")}
    env.update(
        CAREBRIDGE_ENVIRONMENT="test",
        CAREBRIDGE_DATA_DIR=str(tmp_path),
        CAREBRIDGE_DATABASE_URL=database_url,
        CAREBRIDGE_SECRET_KEY=TEST_SECRET,
        CAREBRIDGE_ENCRYPTION_KEY=TEST_SECRET,
    )
    result = CliRunner().invoke(cli, ["audit", "verify"], env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


async def test_the_command_prints_a_summary_and_fails_naming_the_event(
    sealed: list[AuditBatch], fresh_url: str, fresh_owner_url: str, tmp_path: Path
) -> None:
    # The command runs its own event loop: give it a thread of its own.
    code, out, err = await asyncio.to_thread(_run_cli, tmp_path, fresh_url)
    assert code == 0, err
    assert "start: batch 1\nbatches: 3 checked\nevents: 10 sealed and checked\n" in out
    assert f"last hash: {sealed[-1].hash.hex()}\npending seal: 1 events\n" in out
    assert "the audit trail is intact" in out

    owner = await asyncpg.connect(fresh_owner_url)
    try:
        async with owner.transaction():  # committed: the command reads with its own connection
            await owner.execute("SET LOCAL session_replication_role = replica")
            target = await event_at(owner, 9)
            await owner.execute(
                "UPDATE audit_events SET details = '{\"n\": 99}' WHERE id = $1", target["id"]
            )
    finally:
        await owner.close()
    code, out, err = await asyncio.to_thread(_run_cli, tmp_path, fresh_url)
    assert code == 1
    assert "batches: 2 checked" in out
    assert (
        f"FAILED: changed: the event was edited (batch 3, event seq {target['seq']}, "
        f"id {target['id']})" in err
    )


async def test_metrics_carry_the_last_batch_its_hash_and_the_pending_count(
    sealed: list[AuditBatch], fresh: Database
) -> None:
    metrics = Metrics()
    async with fresh.transaction() as db:
        await seal_metrics.scrape(metrics, db)
    exposed = generate_latest(metrics.registry).decode()
    assert "carebridge_audit_sealed_batch 3.0" in exposed
    assert "carebridge_audit_pending_events 1.0" in exposed
    assert f'carebridge_audit_seal_info{{hash="{sealed[-1].hash.hex()}",number="3"}} 1.0' in exposed


EVENTS = [
    (uuid.uuid4(), 41, 7_000_000_001, datetime(2026, 3, 1, 9, 0, 0, 250, tzinfo=UTC),
     uuid.uuid4(), "doctor", "records.read", "observation", "obs-1", uuid.uuid4(), "success",
     "2001:db8::1", 'Navigateur "Été" \u2028 ✓', "req-1",
     '{"z": {"a": "é", "b": [1, 2.5, null]}, "count": 3}'),
    (uuid.uuid4(), 1, 3, datetime(2026, 1, 1, 1, 30, tzinfo=timezone(timedelta(hours=2))),
     None, None, "auth.signed_in", None, None, None, "failure", None, None, None, "{}"),
]  # fmt: skip


@pytest.mark.parametrize("row", EVENTS)
def test_the_canonical_serialisation_is_the_documented_json(row: tuple[Any, ...]) -> None:
    """``canonical`` writes its JSON by hand for speed; it is the documented form exactly:
    sorted keys, no whitespace, and ``details`` as PostgreSQL writes the jsonb value."""
    (id_, seq, xact, at, actor_id, actor_role, action, resource_type, resource_id, subject_id,
     outcome, ip, user_agent, request_id, details) = row  # fmt: skip
    documented = {
        "action": action,
        "actor_id": actor_id and str(actor_id),
        "actor_role": actor_role,
        "at": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "details": "DETAILS",
        "id": str(id_),
        "ip": ip,
        "outcome": outcome,
        "request_id": request_id,
        "resource_id": resource_id,
        "resource_type": resource_type,
        "seq": seq,
        "subject_id": subject_id and str(subject_id),
        "user_agent": user_agent,
        "xact": xact,
    }
    written = json.dumps(documented, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    expected = written.replace('"DETAILS"', details).encode()
    assert canonical(row) == expected
    assert json.loads(canonical(row))["details"] == json.loads(details)
    assert leaf_hash(row) == hashlib.sha256(b"\x00" + expected).digest()


async def test_details_are_hashed_exactly_as_stored(owner: asyncpg.Connection) -> None:
    """A number's digits beyond a float's precision count: jsonb keeps them, and so does the
    serialisation (a float would not tell these two apart)."""
    texts = await owner.fetch(
        "SELECT v::jsonb::text FROM unnest(ARRAY[$1, $2]) AS v",
        '{"dose": 0.1000000000000000001, "b": 1}',
        '{"b": 1, "dose": 0.1000000000000000002}',
    )
    assert [t[0] for t in texts] == [
        '{"b": 1, "dose": 0.1000000000000000001}',
        '{"b": 1, "dose": 0.1000000000000000002}',
    ]
    row = EVENTS[1]
    assert leaf_hash((*row[:-1], texts[0][0])) != leaf_hash((*row[:-1], texts[1][0]))


def test_the_merkle_root_pairs_leaves_and_carries_an_odd_one_up() -> None:
    a, b, c = (hashlib.sha256(x).digest() for x in (b"a", b"b", b"c"))
    ab = hashlib.sha256(b"\x01" + a + b).digest()
    assert merkle_root([a]) == a
    assert merkle_root([a, b, c]) == hashlib.sha256(b"\x01" + ab + c).digest()


def test_the_seal_runs_every_minute_in_the_workers() -> None:
    importlib.import_module("carebridge.compliance.tasks")
    assert "carebridge.compliance.tasks" in TASK_MODULES
    periodic = {p.task.name: p.cron for p in job_app.periodic_registry.periodic_tasks.values()}
    assert periodic["compliance.seal_audit_trail"] == "* * * * *"
