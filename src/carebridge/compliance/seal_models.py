"""The seal of the audit trail: batches of final events, each hashed (a Merkle root over the
events' canonical serialisation), chained to the batch before and signed. Append-only, enforced
by the database (trigger and privileges, see migration 0027 and ``platform/roles.py``); how the
hashes are made is in ``compliance/seal_hash.py``, who writes the rows in ``compliance/seal.py``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from carebridge.platform.models import Base


class AuditBatch(Base):
    __tablename__ = "audit_batches"

    # 1, 2, 3, ... without gaps (the sealer takes the last number under a lock and adds one).
    number: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    # The first and last events covered, as positions in the trail's order (xact, seq).
    first_xact: Mapped[int] = mapped_column(BigInteger)
    first_seq: Mapped[int] = mapped_column(BigInteger)
    last_xact: Mapped[int] = mapped_column(BigInteger)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    event_count: Mapped[int] = mapped_column(Integer)
    # Each event's seq (8 bytes, big-endian) and leaf hash (32 bytes), in the trail's order: what
    # lets ``audit verify`` name the event that was changed, deleted or inserted.
    leaves: Mapped[bytes] = mapped_column(LargeBinary)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    # The signing key (``signing_keys.kid``) whose Ed25519 signature of ``hash`` this is.
    kid: Mapped[str] = mapped_column(String(64))
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
    sealed_at: Mapped[datetime]

    __table_args__ = (
        CheckConstraint("number >= 1", name="number"),
        CheckConstraint("event_count >= 1", name="event_count"),
        CheckConstraint("octet_length(leaves) = 40 * event_count", name="leaves"),
        CheckConstraint("(first_xact, first_seq) <= (last_xact, last_seq)", name="positions"),
    )
