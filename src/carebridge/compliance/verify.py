"""``carebridge audit verify``: recompute the sealed audit trail and name the first problem.

Reads with asyncpg directly, in one read-only repeatable-read snapshot (a sealer at work
meanwhile changes nothing that is read): the batches a few at a time by number, the events in
chunks by (xact, seq), so memory holds one chunk and one batch, whatever the trail's length.
For each batch, in order: the number follows the one before (the earliest batch present is the
start: batches before it may have been purged with their events by the retention job), its
``prev_hash`` is the hash of the batch before, its stored leaves give its root, its fields give
its hash, its signature verifies with its key (``signing_keys``), and the events between its
first and last positions are exactly the ones its leaves name, unchanged. An event before the
start or between two batches was inserted. Events after the last batch are pending: counted,
not checked.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from carebridge.accounts.tokens import public_key_of
from carebridge.compliance.seal_hash import (
    EVENT_COLUMNS,
    LEAF_SIZE,
    batch_hash,
    leaf_hash,
    merkle_root,
    unpack_leaves,
)

EVENT_CHUNK = 50_000
BATCH_CHUNK = 8  # up to 400 kB of leaves each

# Constant text (the values are parameters); the first chunk from the very start, whatever the
# positions (a forged row may have any).
_SELECT_EVENTS = f"SELECT {', '.join(EVENT_COLUMNS)} FROM audit_events"  # noqa: S608
_FIRST_EVENTS = f"{_SELECT_EVENTS} ORDER BY xact, seq LIMIT $1"
_EVENTS = f"{_SELECT_EVENTS} WHERE (xact, seq) > ($2, $3) ORDER BY xact, seq LIMIT $1"
_BATCHES = (
    "SELECT number, first_xact, first_seq, last_xact, last_seq, event_count, leaves, root, "
    "prev_hash, hash, kid, signature, sealed_at FROM audit_batches WHERE number > $1 "
    "ORDER BY number LIMIT $2"
)
_PENDING = "SELECT count(*) FROM audit_events WHERE (xact, seq) > ($1, $2)"
_ALL = "SELECT count(*) FROM audit_events"
_KEYS = "SELECT kid, public_jwk::text FROM signing_keys"


@dataclass(frozen=True)
class Problem:
    """The first thing found wrong, and where."""

    kind: str  # changed, deleted, inserted, batch_changed, broken_chain, gap, bad_signature
    detail: str
    batch: int | None = None
    seq: int | None = None
    event_id: str | None = None

    def describe(self) -> str:
        where = [f"batch {self.batch}"] if self.batch is not None else []
        if self.seq is not None:
            where.append(f"event seq {self.seq}")
        if self.event_id is not None:
            where.append(f"id {self.event_id}")
        return f"{self.kind}: {self.detail}" + (f" ({', '.join(where)})" if where else "")


@dataclass
class Report:
    batches: int = 0
    events: int = 0  # sealed events checked
    first_batch: int | None = None  # where the check started (the earliest batch present)
    last_batch: int | None = None
    last_hash: bytes | None = None
    pending: int = 0  # events after the last batch, not sealed yet
    problem: Problem | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.problem is None


class _Found(Exception):
    def __init__(self, problem: Problem) -> None:
        self.problem = problem


class _Events:
    """The events in the trail's order, read in chunks, with one event of look-ahead."""

    def __init__(self, conn: asyncpg.Connection, chunk: int) -> None:
        self._conn, self._chunk = conn, chunk
        self._rows: list[Any] = []
        self._index = 0
        self._after: tuple[int, int] | None = None  # none read yet: from the very first
        self._done = False

    async def peek(self) -> Any | None:
        if self._index == len(self._rows) and not self._done:
            if self._after is None:
                self._rows = await self._conn.fetch(_FIRST_EVENTS, self._chunk)
            else:
                self._rows = await self._conn.fetch(_EVENTS, self._chunk, *self._after)
            self._index = 0
            self._done = len(self._rows) < self._chunk
            if self._rows:
                self._after = (self._rows[-1][2], self._rows[-1][1])
        return self._rows[self._index] if self._index < len(self._rows) else None

    async def take_through(self, position: tuple[int, int]) -> list[Any]:
        """The events up to ``position`` included."""
        taken: list[Any] = []
        while (row := await self.peek()) is not None and (row[2], row[1]) <= position:
            taken.append(row)
            self._index += 1
        return taken


async def _batches(conn: asyncpg.Connection) -> AsyncIterator[Any]:
    after = 0
    while True:
        rows = await conn.fetch(_BATCHES, after, BATCH_CHUNK)
        for row in rows:
            yield row
        if len(rows) < BATCH_CHUNK:
            return
        after = rows[-1]["number"]


async def verify(conn: asyncpg.Connection, chunk: int = EVENT_CHUNK) -> Report:
    """Check the whole trail; the report names the first problem, if any."""
    started = time.perf_counter()
    report = Report()
    if conn.is_in_transaction():  # a test's transaction (tampering in it): read in it
        await _verify(conn, chunk, report)
    else:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            await _verify(conn, chunk, report)
    report.seconds = time.perf_counter() - started
    return report


async def _verify(conn: asyncpg.Connection, chunk: int, report: Report) -> None:
    keys = {kid: public_key_of(jwk) for kid, jwk in await conn.fetch(_KEYS)}
    events = _Events(conn, chunk)
    previous: Any = None
    try:
        async for batch in _batches(conn):
            _check_batch(batch, previous, keys)
            before = await events.take_through((batch["first_xact"], batch["first_seq"] - 1))
            if before:
                where = "before the earliest batch" if previous is None else "between batches"
                raise _Found(_event_problem("inserted", before[0], batch, f"an event {where}"))
            _check_events(batch, await events.take_through(_last(batch)))
            previous = batch
            report.first_batch = report.first_batch or batch["number"]
            report.batches += 1
            report.events += batch["event_count"]
            report.last_batch, report.last_hash = batch["number"], bytes(batch["hash"])
    except _Found as found:
        report.problem = found.problem
        return
    if previous is None:
        report.pending = await conn.fetchval(_ALL)
    else:
        report.pending = await conn.fetchval(_PENDING, *_last(previous))


def _last(batch: Any) -> tuple[int, int]:
    return (batch["last_xact"], batch["last_seq"])


def _check_batch(batch: Any, previous: Any, keys: dict[str, Ed25519PublicKey]) -> None:
    number = batch["number"]
    if previous is not None and number != previous["number"] + 1:
        raise _Found(
            Problem("gap", f"batches {previous['number'] + 1} to {number - 1} are missing", number)
        )
    if previous is not None and bytes(batch["prev_hash"]) != bytes(previous["hash"]):
        raise _Found(
            Problem("broken_chain", "prev_hash is not the hash of the batch before", number)
        )
    if previous is not None and (batch["first_xact"], batch["first_seq"]) <= _last(previous):
        raise _Found(Problem("broken_chain", "it starts before the batch before ends", number))
    packed = bytes(batch["leaves"])
    if len(packed) != LEAF_SIZE * batch["event_count"]:
        raise _Found(Problem("batch_changed", "its leaves do not match its event count", number))
    leaves = unpack_leaves(packed)
    if merkle_root([digest for _, digest in leaves]) != bytes(batch["root"]):
        raise _Found(Problem("batch_changed", "its leaves do not give its root", number))
    recomputed = batch_hash(
        bytes(batch["prev_hash"]),
        bytes(batch["root"]),
        number,
        (batch["first_xact"], batch["first_seq"]),
        _last(batch),
        batch["event_count"],
        batch["sealed_at"],
    )
    if recomputed != bytes(batch["hash"]):
        raise _Found(Problem("batch_changed", "its fields do not give its hash", number))
    key = keys.get(batch["kid"])
    if key is None:
        raise _Found(Problem("bad_signature", f"unknown signing key {batch['kid']}", number))
    try:
        key.verify(bytes(batch["signature"]), recomputed)
    except InvalidSignature:
        raise _Found(
            Problem("bad_signature", f"key {batch['kid']} did not sign it", number)
        ) from None


def _event_problem(kind: str, row: Any, batch: Any, detail: str) -> Problem:
    return Problem(kind, detail, batch["number"], row[1], str(row[0]))


def _check_events(batch: Any, rows: list[Any]) -> None:
    """Compare the events present in the batch's range with the ones it sealed, in order."""
    sealed = unpack_leaves(bytes(batch["leaves"]))
    sealed_seqs = {seq for seq, _ in sealed}
    present_seqs = {row[1] for row in rows}
    matched: set[int] = set()  # a second row with a sealed seq was inserted
    i = j = 0
    while i < len(sealed) or j < len(rows):
        if i < len(sealed) and j < len(rows) and sealed[i][0] == rows[j][1]:
            if leaf_hash(rows[j]) != sealed[i][1]:
                raise _Found(_mismatch(rows, j, sealed[i][1], batch))
            matched.add(sealed[i][0])
            i, j = i + 1, j + 1
        elif j < len(rows) and (rows[j][1] not in sealed_seqs or rows[j][1] in matched):
            raise _Found(
                _event_problem("inserted", rows[j], batch, "an event the batch never sealed")
            )
        elif i < len(sealed) and sealed[i][0] not in present_seqs:
            seq, digest = sealed[i]
            detail = f"a sealed event is gone (leaf {digest.hex()})"
            raise _Found(Problem("deleted", detail, batch["number"], seq))
        else:  # both there, out of their sealed order: its position was edited
            raise _Found(_event_problem("changed", rows[j], batch, "the event was moved"))


def _mismatch(rows: list[Any], j: int, sealed: bytes, batch: Any) -> Problem:
    """Row ``j`` has a sealed event's seq but not its hash: edited, or a row given its seq
    (and read before it: the sealed event follows, unchanged)."""
    seq, k = rows[j][1], j + 1
    while k < len(rows) and rows[k][1] == seq:
        if leaf_hash(rows[k]) == sealed:
            return _event_problem("inserted", rows[j], batch, "an event the batch never sealed")
        k += 1
    return _event_problem("changed", rows[j], batch, "the event was edited")
