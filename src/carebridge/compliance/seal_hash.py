"""How the seal hashes the audit trail: one definition, used by the sealer and by ``verify``.

An event's canonical serialisation is the JSON object of every column of its row:
``action``, ``actor_id``, ``actor_role``, ``at`` (UTC, ``YYYY-MM-DDTHH:MM:SS.ffffffZ``),
``details``, ``id``, ``ip``, ``outcome``, ``request_id``, ``resource_id``, ``resource_type``,
``seq``, ``subject_id``, ``user_agent``, ``xact``, in this (sorted) order, without whitespace
(``","`` and ``":"``); uuids as their lower-case text, missing values as ``null``, strings with
non-ASCII characters as themselves, encoded in UTF-8. ``details`` is the text PostgreSQL writes
for the ``jsonb`` value (``details::text``): the same for equal values (keys ordered by length,
then bytes; ``", "`` and ``": "``), and exact (numbers as stored, where a float would round).

Hashes are SHA-256, domain-separated by a first byte: a leaf is ``H(0x00 || event)``, an inner
node ``H(0x01 || left || right)``; a level of odd length carries its last node up unchanged.
A batch's hash is ``H(0x02 || prev_hash || root || number || first_xact || first_seq ||
last_xact || last_seq || event_count || sealed_at)``, the integers as 8-byte big-endian signed
values, ``sealed_at`` as microseconds since 1970-01-01 UTC; the first batch's ``prev_hash`` is 32
zero bytes. The batch's signature is Ed25519 over that hash.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

GENESIS = bytes(32)
LEAF_SIZE = 40  # seq (8 bytes) and leaf hash (32)
_LEAF = struct.Struct(">q32s")
_POSITIONS = struct.Struct(">qqqqqqq")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

# The columns of an event as the sealer and the verifier read them, in this order (SQL text).
EVENT_COLUMNS = (
    *("id", "seq", "xact", "at", "actor_id", "actor_role", "action", "resource_type"),
    *("resource_id", "subject_id", "outcome", "ip", "user_agent", "request_id", "details::text"),
)


_string = json.encoder.encode_basestring  # a str as JSON, non-ASCII as itself


def _json(value: str | None) -> str:
    return "null" if value is None else _string(value)


def _uuid(value: Any) -> str:
    return "null" if value is None else f'"{value}"'


def _at(at: datetime) -> str:
    if at.utcoffset():
        at = at.astimezone(UTC)
    return f'"{at.isoformat(timespec="microseconds")[:26]}Z"'


def canonical(row: Sequence[Any]) -> bytes:
    """The canonical serialisation of an event read as :data:`EVENT_COLUMNS`. Written out by
    hand in its keys' sorted order: what ``json.dumps(event, sort_keys=True, separators=(",",
    ":"), ensure_ascii=False)`` gives with ``details`` put in as it is (tested), at a fraction
    of the cost."""
    (id_, seq, xact, at, actor_id, actor_role, action, resource_type, resource_id, subject_id,
     outcome, ip, user_agent, request_id, details) = row  # fmt: skip
    return (
        f'{{"action":{_json(action)},"actor_id":{_uuid(actor_id)},'
        f'"actor_role":{_json(actor_role)},"at":{_at(at)},"details":{details},"id":"{id_}",'
        f'"ip":{_json(ip)},"outcome":{_json(outcome)},"request_id":{_json(request_id)},'
        f'"resource_id":{_json(resource_id)},"resource_type":{_json(resource_type)},'
        f'"seq":{int(seq)},"subject_id":{_uuid(subject_id)},"user_agent":{_json(user_agent)},'
        f'"xact":{int(xact)}}}'
    ).encode()


def leaf_hash(row: Sequence[Any]) -> bytes:
    return hashlib.sha256(b"\x00" + canonical(row)).digest()


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """The root over leaf hashes (at least one)."""
    level = list(leaves)
    sha256 = hashlib.sha256
    while len(level) > 1:
        pairs = zip(level[0::2], level[1::2], strict=False)
        paired = [sha256(b"\x01" + left + right).digest() for left, right in pairs]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def pack_leaves(seqs: Sequence[int], hashes: Sequence[bytes]) -> bytes:
    return b"".join(_LEAF.pack(seq, digest) for seq, digest in zip(seqs, hashes, strict=True))


def unpack_leaves(packed: bytes) -> list[tuple[int, bytes]]:
    """(seq, leaf hash) of each event; a length that is not a multiple of 40 raises."""
    return list(_LEAF.iter_unpack(packed))


def microseconds(at: datetime) -> int:
    return (at - _EPOCH) // _MICROSECOND


def batch_hash(
    prev_hash: bytes,
    root: bytes,
    number: int,
    first: tuple[int, int],
    last: tuple[int, int],
    count: int,
    sealed_at: datetime,
) -> bytes:
    fields = _POSITIONS.pack(number, *first, *last, count, microseconds(sealed_at))
    return hashlib.sha256(b"\x02" + prev_hash + root + fields).digest()
