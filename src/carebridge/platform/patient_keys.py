"""Per-patient data keys (crypto-shredding): each patient's sealed data is under a data key of its
own, one per :class:`~carebridge.platform.crypto.KeyClass`, so destroying a key makes every copy
of that data unreadable, backups included.

A key is 32 random bytes, stored in ``patient_keys`` sealed by the keyring (associated data
``patient_key:<patient id>:<class>``), so ``carebridge reencrypt`` re-seals the data keys after a
rotation of the keyring while the data they seal stays as it is. A key is made on first use:
``INSERT ... ON CONFLICT DO NOTHING`` then a read, so two calls that race agree on one key.

:func:`unlock` loads the keys a call needs before it seals or opens (``CallScope.unlock``); a
key read from a committed row is cached by the process for ``patient_key_cache_seconds``, so the
steady state costs no round trip. A key this call's transaction made stays with the call's
keyring view until that transaction commits (then it joins the process cache) or rolls back
(then it is forgotten): no other call seals with a key whose row may never exist.

:func:`destroy_patient_keys` deletes keys (erasure, end of a legal hold) and evicts them from
this process's cache; other processes' caches drop them within ``patient_key_cache_seconds``
(until then they may still open, and seal new values under the destroyed key, which are then
unreadable as well).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Collection, Iterable
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    LargeBinary,
    String,
    delete,
    event,
    func,
    literal_column,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, Session, SessionTransaction, mapped_column

from carebridge.platform.crypto import (
    DATA_KEY_SIZE,
    DataKey,
    DataKeyRef,
    KeyClass,
    Keyring,
    SealedColumn,
    forget_data_keys,
)
from carebridge.platform.erasure import ErasureRule
from carebridge.platform.models import Base

EVERY_CLASS: tuple[KeyClass, ...] = (KeyClass.personal, KeyClass.medical)


class PatientKey(Base):
    """One data key of one patient, sealed by the keyring."""

    __tablename__ = "patient_keys"

    patient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    key_class: Mapped[str] = mapped_column(String(16), primary_key=True)
    key_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        CheckConstraint("key_class IN ('personal', 'medical')", name="key_class_known"),
    )


KEY_SEALED = SealedColumn(
    "patient_keys",
    "key_sealed",
    lambda row: f"patient_key:{row['patient_id']}:{row['key_class']}".encode(),
    key=("patient_id", "key_class"),
)

SEALED_COLUMNS: tuple[SealedColumn, ...] = (KEY_SEALED,)

# What erasing a patient does to their keys (``platform/erasure.py``): the erasure destroys the
# personal key itself (``governance.erasure``); the medical key goes with the held data.
ERASURE_RULES: tuple[ErasureRule, ...] = (
    ErasureRule(
        "patient_keys",
        "keep",
        "delete",
        "The patient's data keys: the personal one is destroyed at the erasure, the medical one "
        "when the hold ends, and with it every copy of what it sealed.",
    ),
)


async def unlock(
    db: AsyncSession,
    keyring: Keyring,
    patient_ids: Iterable[uuid.UUID | None],
    classes: Collection[KeyClass] = EVERY_CLASS,
    *,
    create: bool = True,
) -> None:
    """Load the data keys of ``patient_ids`` (None ignored) into ``keyring``, making those that
    do not exist yet (unless not ``create``). No round trip when every key is cached; else one
    read, and one insert (plus a read of the keys a concurrent call made first) for keys never
    used before."""
    wanted = {
        (patient_id, key_class)
        for patient_id in patient_ids
        if patient_id is not None
        for key_class in classes
        if keyring.needs_loading(patient_id, key_class)
    }
    if not wanted:
        return
    missing = wanted - await _load(db, keyring, wanted)
    if not missing or not create:
        return
    made = {ref: os.urandom(DATA_KEY_SIZE) for ref in missing}
    inserted = await db.execute(
        insert(PatientKey)
        .values(
            [
                {
                    "patient_id": patient_id,
                    "key_class": str(key_class),
                    "key_sealed": _seal(keyring, patient_id, key_class, key),
                }
                for (patient_id, key_class), key in made.items()
            ]
        )
        .on_conflict_do_nothing(index_elements=["patient_id", "key_class"])
        .returning(PatientKey.patient_id, PatientKey.key_class)
    )
    ours = {(row.patient_id, KeyClass(row.key_class)) for row in inserted}
    pending = {ref: keyring.remember_pending(*ref, made[ref]) for ref in ours}
    _settle_at_end(db, keyring, pending)
    if missing - ours:
        # A concurrent call made them first (our insert waited for its commit): read them.
        await _load(db, keyring, missing - ours)


async def destroy_patient_keys(
    db: AsyncSession, patient_id: uuid.UUID, classes: Collection[KeyClass]
) -> int:
    """Delete the patient's data keys of ``classes``: every value they sealed, in the database
    and in every backup taken since, no longer opens (``Unreadable``, "the patient's data key
    was destroyed"). Evicts them from this process's cache; other processes drop theirs within
    ``patient_key_cache_seconds``. A later use of the class makes a new key. Returns how many
    keys were deleted."""
    deleted = await db.execute(
        delete(PatientKey)
        .where(
            PatientKey.patient_id == patient_id,
            PatientKey.key_class.in_([str(key_class) for key_class in classes]),
        )
        .returning(PatientKey.key_class)
    )
    count = len(deleted.all())
    forget_data_keys((patient_id, key_class) for key_class in classes)
    return count


async def _load(db: AsyncSession, keyring: Keyring, refs: set[DataKeyRef]) -> set[DataKeyRef]:
    """Read the keys of ``refs`` that exist: into the process cache, or, for a row this very
    transaction wrote (another call scope of it made the key), into ``keyring``'s pending keys
    until the transaction ends. Returns those found."""
    rows = await db.execute(
        select(
            PatientKey.patient_id,
            PatientKey.key_class,
            PatientKey.key_sealed,
            _WRITTEN_BY_THIS_TRANSACTION.label("ours"),
        ).where(
            tuple_(PatientKey.patient_id, PatientKey.key_class).in_(
                [(patient_id, str(key_class)) for patient_id, key_class in refs]
            )
        )
    )
    found: set[DataKeyRef] = set()
    pending: dict[DataKeyRef, DataKey] = {}
    for row in rows:
        key = keyring.open(KEY_SEALED, row._mapping)
        assert key is not None  # the column is NOT NULL
        ref = (row.patient_id, KeyClass(row.key_class))
        if row.ours:
            pending[ref] = keyring.remember_pending(*ref, key)
        else:
            keyring.remember_committed(*ref, key)
        found.add(ref)
    _settle_at_end(db, keyring, pending)
    return found


# Whether a row was written by the reading transaction (its xmin is the transaction's id, taken
# modulo 2^32 as xmin is): such a row may yet be rolled back. A row written inside a savepoint
# carries the subtransaction's id and is not recognised (no request path writes keys in one).
_WRITTEN_BY_THIS_TRANSACTION = literal_column(
    "coalesce(patient_keys.xmin::text::bigint"
    " = pg_current_xact_id_if_assigned()::text::bigint % 4294967296, false)",
    Boolean(),
)


def _seal(keyring: Keyring, patient_id: uuid.UUID, key_class: KeyClass, key: bytes) -> bytes:
    return keyring.seal(KEY_SEALED, {"patient_id": patient_id, "key_class": str(key_class)}, key)


def _settle_at_end(db: AsyncSession, keyring: Keyring, pending: dict[DataKeyRef, DataKey]) -> None:
    """When the session's transaction ends: the keys join the process cache if it committed,
    and are forgotten if it rolled back."""
    if not pending:
        return

    def committed(session: Session) -> None:
        keyring.settle_pending(pending, committed=True)

    def rolled_back(session: Session, previous: SessionTransaction) -> None:
        keyring.settle_pending(pending, committed=False)

    event.listen(db.sync_session, "after_commit", committed, once=True)
    event.listen(db.sync_session, "after_soft_rollback", rolled_back, once=True)
