"""Encryption at rest: AES-256-GCM under a keyring, the key id stored with every ciphertext.

Ciphertext layout: ``b"cb1" | key id (8 bytes) | nonce (12 bytes) | ciphertext + tag``. The
associated data (for example the owning row's id) binds a ciphertext to its place: copied to
another row it no longer decrypts. Keys are derived with HKDF from ``CAREBRIDGE_ENCRYPTION_KEY``
(the current key: it seals) and ``CAREBRIDGE_ENCRYPTION_PREVIOUS_KEYS`` (they only open what they
sealed); a key id is the first 8 bytes of the SHA-256 of the derived key.

Domains declare the columns they seal as :class:`SealedColumn` values (their ``sealed.py``,
listed in ``registry.SEALED_COLUMN_MODULES``), so ``carebridge reencrypt`` can move every value
to the current key after a rotation (see :mod:`carebridge.platform.reencrypt`). They seal and
open those values only with :meth:`Keyring.seal` and :meth:`Keyring.open`, so the associated
data of a column is written once, and a value that does not open is handled one way for every
column: :class:`Unreadable` (500 ``unreadable``), logged by column and row, never by content, and
audited by the compliance domain, which observes the error.

Patient data is sealed one level down, under a data key of its patient (crypto-shredding): each
patient has two random AES-256 keys, one per :class:`KeyClass` (``personal``: destroyed when the
patient is erased; ``medical``: kept while the legal hold lasts), stored in ``patient_keys``
sealed by the keyring (:mod:`carebridge.platform.patient_keys`). A column of patient data says
its class (``SealedColumn.key_class``) and its values are ``b"cb2" | patient id (16 bytes) |
class (1 byte) | data key id (8 bytes) | nonce | ciphertext + tag``, the header bound as
associated data too: opening needs the header only, not an owner column in the row. Destroying a
data key makes every copy of those values unreadable, backups included. Values still in ``cb1``
open with the keyring as before; ``carebridge reencrypt`` moves them to their patient's key.

Seal and open stay synchronous: the data keys a call needs are loaded ahead, asynchronously, by
``CallScope.unlock`` (:func:`carebridge.platform.patient_keys.unlock`), and kept in a process-wide
cache for ``patient_key_cache_seconds``. Sealing or opening with a key that was not loaded is a
programming error (:class:`DataKeyNotLoaded`), never an answer to the user. A key created by the
call's own transaction is kept apart (:meth:`Keyring.scoped`: one view per call scope) until that
transaction commits, so no other call seals with a key whose row may yet be rolled back.

The keyring also makes keyed hashes (HMAC-SHA256) for values that must be compared later but
never read back, such as a booking request behind an Idempotency-Key. Each purpose has its own
key, derived with HKDF from the same key material under a label of its own (never the encryption
key itself), and a hash carries the key id of the material that made it: after a rotation the
previous keys still verify the hashes they made, as they still open what they sealed.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, overload

import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from carebridge.config import Settings
from carebridge.platform.errors import CareBridgeError

log = structlog.get_logger(__name__)

_VERSION = b"cb1"
_PATIENT_VERSION = b"cb2"
_KEY_ID_SIZE = 8
_NONCE_SIZE = 12
_TAG_SIZE = 16
DATA_KEY_SIZE = 32
DESTROYED = "the patient's data key was destroyed"


class KeyClass(StrEnum):
    """Which of a patient's two data keys seals a column: ``personal`` (destroyed on erasure)
    or ``medical`` (kept under legal hold, destroyed when the hold ends)."""

    personal = "personal"
    medical = "medical"


_CLASS_BYTE = {KeyClass.personal: b"p", KeyClass.medical: b"m"}
_BYTE_CLASS = {byte: key_class for key_class, byte in _CLASS_BYTE.items()}
_PATIENT_HEADER = len(_PATIENT_VERSION) + 16 + 1 + _KEY_ID_SIZE

DataKeyRef = tuple[uuid.UUID, KeyClass]


class DecryptionError(Exception):
    """The ciphertext is damaged, was made for other associated data, or its key is unknown."""


class DataKeyNotLoaded(RuntimeError):
    """A patient's data key was needed before ``CallScope.unlock`` loaded it: a bug of the
    calling code (tests catch it), never something a user can cause."""

    def __init__(self, patient_id: uuid.UUID, key_class: KeyClass) -> None:
        super().__init__(
            f"the {key_class} data key of patient {patient_id} is not loaded: "
            "call `await scope.unlock(db, patient_id)` before sealing or opening"
        )


@dataclass(frozen=True)
class DataKey:
    """A patient's data key in memory: its id (first 8 bytes of its SHA-256) and cipher."""

    key_id: bytes
    cipher: AESGCM
    loaded_at: float

    @classmethod
    def of(cls, key: bytes) -> DataKey:
        return cls(hashlib.sha256(key).digest()[:_KEY_ID_SIZE], AESGCM(key), time.monotonic())


# The process's data keys read from committed rows, by patient and class; entries older than
# the keyring's ``data_key_ttl`` are not used (a key destroyed by another process stops opening
# here within that time).
_DATA_KEYS: dict[DataKeyRef, DataKey] = {}


def forget_data_keys(refs: Iterable[DataKeyRef]) -> None:
    """Evict data keys from this process's cache (other processes' expire within the TTL)."""
    for ref in refs:
        _DATA_KEYS.pop(ref, None)


class Unreadable(CareBridgeError):
    """A sealed value of a row does not open. The request's changes are kept (its own audit
    rows of the attempt among them), and the answer never holds the value or why it failed."""

    status = 500
    code = "unreadable"
    title = "Stored data could not be read"

    def __init__(self, column: SealedColumn, row_id: str, reason: str) -> None:
        super().__init__(
            "Stored data could not be read; the operators have been alerted.", keep_changes=True
        )
        self.column = column
        self.row_id = row_id
        self.reason = reason


_AT_REST = b"carebridge-at-rest-v1"
_KEYED_HASH = b"carebridge-keyed-hash-v1:"
_HASH_SIZE = 32


def _derive(material: str, info: bytes = _AT_REST) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info)
    return hkdf.derive(material.encode())


class Keyring:
    def __init__(
        self, current: str, previous: tuple[str, ...] = (), *, data_key_ttl: float = 60.0
    ) -> None:
        materials = (current, *previous)
        keys = [_derive(material) for material in materials]
        self._current_id = self.key_id(keys[0])
        self._keys = {self.key_id(key): AESGCM(key) for key in keys}
        self._materials = {self.key_id(key): m for key, m in zip(keys, materials, strict=True)}
        self._hash_keys: dict[tuple[bytes, str], bytes] = {}
        self.data_key_ttl = data_key_ttl
        # Data keys created by this view's transaction, not yet committed: used by this view
        # alone (see the module's docstring).
        self._pending: dict[DataKeyRef, DataKey] = {}

    def scoped(self) -> Keyring:
        """A view of this keyring for one call scope: the same keys and process cache, and its
        own keys pending commit. Cheap: nothing is derived again."""
        view = object.__new__(Keyring)
        view.__dict__.update(self.__dict__)
        view._pending = {}
        return view

    def data_key(self, patient_id: uuid.UUID, key_class: KeyClass) -> DataKey | None:
        """The loaded data key, if any: this view's pending one or a fresh cached one."""
        ref = (patient_id, key_class)
        pending = self._pending.get(ref)
        if pending is not None:
            return pending
        cached = _DATA_KEYS.get(ref)
        if cached is None or time.monotonic() - cached.loaded_at > self.data_key_ttl:
            return None
        return cached

    def needs_loading(self, patient_id: uuid.UUID, key_class: KeyClass) -> bool:
        """Whether ``unlock`` must read the key: absent, or past half its TTL (so a key a call
        just unlocked stays usable for at least half the TTL)."""
        ref = (patient_id, key_class)
        if ref in self._pending:
            return False
        cached = _DATA_KEYS.get(ref)
        return cached is None or time.monotonic() - cached.loaded_at > self.data_key_ttl / 2

    def remember_committed(self, patient_id: uuid.UUID, key_class: KeyClass, key: bytes) -> None:
        _DATA_KEYS[(patient_id, key_class)] = DataKey.of(key)

    def remember_pending(self, patient_id: uuid.UUID, key_class: KeyClass, key: bytes) -> DataKey:
        data_key = self._pending[(patient_id, key_class)] = DataKey.of(key)
        return data_key

    def settle_pending(self, keys: Mapping[DataKeyRef, DataKey], *, committed: bool) -> None:
        """The transaction that created ``keys`` ended: into the process cache when it
        committed, forgotten when it rolled back (only those still pending, by identity)."""
        for ref, data_key in keys.items():
            if self._pending.get(ref) is data_key:
                del self._pending[ref]
                if committed:
                    _DATA_KEYS[ref] = data_key

    @staticmethod
    def key_id(key: bytes) -> bytes:
        return hashlib.sha256(key).digest()[:_KEY_ID_SIZE]

    @classmethod
    def from_settings(cls, settings: Settings) -> Keyring:
        previous = tuple(key.get_secret_value() for key in settings.encryption_previous_keys)
        return cls(
            settings.secret("encryption_key"),
            previous,
            data_key_ttl=settings.patient_key_cache_seconds,
        )

    @property
    def current_key_id(self) -> bytes:
        return self._current_id

    def is_current(self, ciphertext: bytes, column: SealedColumn | None = None) -> bool:
        """Whether ``ciphertext`` claims the key it should be under (its header only: nothing is
        verified): a patient's data key for a column of patient data (data keys do not change
        with the keyring), else the keyring's current key."""
        if column is not None and column.key_class is not None:
            return ciphertext.startswith(_PATIENT_VERSION)
        return ciphertext.startswith(_VERSION + self._current_id)

    def encrypt(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(_NONCE_SIZE)
        sealed = self._keys[self._current_id].encrypt(nonce, plaintext, aad)
        return _VERSION + self._current_id + nonce + sealed

    @overload
    def seal(
        self,
        column: SealedColumn,
        row: Row,
        plaintext: bytes | str,
        *,
        patient: uuid.UUID | None = None,
    ) -> bytes: ...
    @overload
    def seal(
        self, column: SealedColumn, row: Row, plaintext: None, *, patient: uuid.UUID | None = None
    ) -> None: ...
    @overload
    def seal(
        self,
        column: SealedColumn,
        row: Row,
        plaintext: bytes | str | None,
        *,
        patient: uuid.UUID | None = None,
    ) -> bytes | None: ...
    def seal(
        self,
        column: SealedColumn,
        row: Row,
        plaintext: bytes | str | None,
        *,
        patient: uuid.UUID | None = None,
    ) -> bytes | None:
        """``plaintext`` sealed for ``column`` of ``row`` (None stays None). A column of patient
        data is sealed under the data key of its patient: ``patient``, else the row's owner
        column (``SealedColumn.owner``); the key must have been unlocked."""
        if plaintext is None:
            return None
        data = plaintext.encode() if isinstance(plaintext, str) else plaintext
        if column.key_class is None:
            return self.encrypt(data, column.aad(row))
        owner = patient if patient is not None else column.owner_of(row)
        return self.encrypt_for(owner, column.key_class, data, column.aad(row))

    def encrypt_for(
        self, patient_id: uuid.UUID, key_class: KeyClass, plaintext: bytes, aad: bytes
    ) -> bytes:
        """``plaintext`` under the patient's data key of ``key_class`` (``cb2``: the header
        names the key and is bound as associated data too); the key must have been unlocked."""
        data_key = self.data_key(patient_id, key_class)
        if data_key is None:
            raise DataKeyNotLoaded(patient_id, key_class)
        header = _PATIENT_VERSION + patient_id.bytes + _CLASS_BYTE[key_class] + data_key.key_id
        nonce = os.urandom(_NONCE_SIZE)
        return header + nonce + data_key.cipher.encrypt(nonce, plaintext, header + aad)

    def open(self, column: SealedColumn, row: Row) -> bytes | None:
        """The plaintext of ``column`` in ``row`` (None when empty); raises :class:`Unreadable`
        when it does not open, and never returns anything else."""
        ciphertext = column.value(row)
        if ciphertext is None:
            return None
        try:
            return self.decrypt(ciphertext, column.aad(row))
        except DecryptionError as exc:
            row_id = column.row_id(row)
            log.error("sealed_value_unreadable", column=column.name, row_id=row_id, reason=str(exc))
            raise Unreadable(column, row_id, str(exc)) from exc

    def _open_patient_value(self, ciphertext: bytes, aad: bytes) -> bytes:
        if len(ciphertext) < _PATIENT_HEADER + _NONCE_SIZE + _TAG_SIZE:
            raise DecryptionError("not a CareBridge ciphertext")
        patient_id, key_class, key_id = patient_key_of(ciphertext)
        data_key = self.data_key(patient_id, key_class)
        if data_key is None:
            raise DataKeyNotLoaded(patient_id, key_class)
        if data_key.key_id != key_id:
            # The patient's key of this class is another one now: the one that sealed this
            # value was destroyed (and a new one made for later data).
            raise DecryptionError(DESTROYED)
        header = ciphertext[:_PATIENT_HEADER]
        nonce = ciphertext[_PATIENT_HEADER : _PATIENT_HEADER + _NONCE_SIZE]
        try:
            return data_key.cipher.decrypt(
                nonce, ciphertext[_PATIENT_HEADER + _NONCE_SIZE :], header + aad
            )
        except InvalidTag as exc:
            raise DecryptionError("ciphertext damaged or bound to other data") from exc

    def open_text(self, column: SealedColumn, row: Row) -> str | None:
        opened = self.open(column, row)
        return None if opened is None else opened.decode()

    def keyed_hash(self, purpose: str, data: bytes) -> bytes:
        """``key id | HMAC-SHA256(data)`` under the current key's key for ``purpose``."""
        key_id = self._current_id
        mac = hmac.new(self._hash_key(key_id, purpose), data, hashlib.sha256).digest()
        return key_id + mac

    def keyed_hash_matches(self, purpose: str, data: bytes, keyed_hash: bytes | None) -> bool:
        """Whether ``keyed_hash`` was made of ``data`` for ``purpose`` by any key of the ring.
        One made by a key no longer in the ring (or not a keyed hash at all) does not match."""
        if keyed_hash is None or len(keyed_hash) != _KEY_ID_SIZE + _HASH_SIZE:
            return False
        key_id, mac = keyed_hash[:_KEY_ID_SIZE], keyed_hash[_KEY_ID_SIZE:]
        if key_id not in self._materials:
            return False
        expected = hmac.new(self._hash_key(key_id, purpose), data, hashlib.sha256).digest()
        return hmac.compare_digest(mac, expected)

    def _hash_key(self, key_id: bytes, purpose: str) -> bytes:
        key = self._hash_keys.get((key_id, purpose))
        if key is None:
            info = _KEYED_HASH + purpose.encode()
            key = self._hash_keys[(key_id, purpose)] = _derive(self._materials[key_id], info)
        return key

    def decrypt(self, ciphertext: bytes, aad: bytes) -> bytes:
        """Open a ``cb1`` value with the keyring, or a ``cb2`` one with the data key its header
        names (:class:`DataKeyNotLoaded` when that key was not unlocked)."""
        if ciphertext.startswith(_PATIENT_VERSION):
            return self._open_patient_value(ciphertext, aad)
        header = len(_VERSION) + _KEY_ID_SIZE
        if len(ciphertext) < header + _NONCE_SIZE + 16 or not ciphertext.startswith(_VERSION):
            raise DecryptionError("not a CareBridge ciphertext")
        key = self._keys.get(ciphertext[len(_VERSION) : header])
        if key is None:
            raise DecryptionError("encrypted under a key that is not in the keyring")
        nonce = ciphertext[header : header + _NONCE_SIZE]
        try:
            return key.decrypt(nonce, ciphertext[header + _NONCE_SIZE :], aad)
        except InvalidTag as exc:
            raise DecryptionError("ciphertext damaged or bound to other data") from exc


def patient_key_of(ciphertext: bytes) -> tuple[uuid.UUID, KeyClass, bytes]:
    """The patient, key class and data key id a ``cb2`` value names in its header."""
    start = len(_PATIENT_VERSION)
    key_class = _BYTE_CLASS.get(ciphertext[start + 16 : start + 17])
    if not ciphertext.startswith(_PATIENT_VERSION) or key_class is None:
        raise DecryptionError("not a CareBridge ciphertext")
    patient_id = uuid.UUID(bytes=ciphertext[start : start + 16])
    return patient_id, key_class, ciphertext[start + 17 : _PATIENT_HEADER]


def owners_of(values: Iterable[bytes | None]) -> set[uuid.UUID]:
    """The patients whose data keys sealed ``values`` (``cb2`` ones; others name nobody)."""
    owners: set[uuid.UUID] = set()
    for value in values:
        if value is not None and len(value) >= _PATIENT_HEADER:
            try:
                owners.add(patient_key_of(value)[0])
            except DecryptionError:
                continue  # not a patient value: opening says so
    return owners


@dataclass(frozen=True)
class OwnerVia:
    """Where the patient of a row without a patient column is: ``table.owner`` of the row
    whose ``id`` is this row's ``column`` (a message's conversation, a report's visit)."""

    column: str
    table: str
    owner: str = "patient_id"


@dataclass(frozen=True)
class SealedColumn:
    """A column holding keyring ciphertexts, declared by the domain that owns the table.

    ``associated_data`` rebuilds the associated data a value was sealed with from its row: it
    gets a mapping with the ``key`` columns (the primary key, walked in order) and the ``reads``
    columns (others it needs, such as a signing key's ``kid``).

    A column of patient data names its ``key_class`` and its patient: ``owner`` (a column of
    the row) or ``owner_via`` (a column of the row pointing at a row that has one; then the
    code that seals passes ``patient=``). ``carebridge reencrypt`` reads either to move old
    ``cb1`` values under the patient's key.
    """

    table: str
    column: str
    associated_data: Callable[[Mapping[str, Any]], bytes]
    key: tuple[str, ...] = ("id",)
    reads: tuple[str, ...] = ()
    key_class: KeyClass | None = None
    owner: str | None = None
    owner_via: OwnerVia | None = None

    def __post_init__(self) -> None:
        has_owner = self.owner is not None or self.owner_via is not None
        if (self.key_class is not None) != has_owner:
            raise ValueError(f"{self.name}: a key class and an owner go together")

    def owner_of(self, row: Row) -> uuid.UUID:
        """The patient owning ``row`` by its owner column (``owner_via`` needs ``patient=``)."""
        if self.owner is None:
            raise TypeError(f"{self.name}: pass the row's patient (patient=...) to seal it")
        found: uuid.UUID = _field(row, self.owner)
        return found

    @property
    def name(self) -> str:
        return f"{self.table}.{self.column}"

    def value(self, row: Row) -> bytes | None:
        found: bytes | None = _field(row, self.column)
        return found

    def aad(self, row: Row) -> bytes:
        return self.associated_data({name: _field(row, name) for name in (*self.key, *self.reads)})

    def row_id(self, row: Row) -> str:
        return "/".join(str(_field(row, name)) for name in self.key)


# A row holding a sealed column: a mapping of column names (hand-written SQL, re-encryption) or
# an ORM object whose attributes are named as its columns.
Row = Mapping[str, Any] | object


def _field(row: Row, name: str) -> Any:
    return row[name] if isinstance(row, Mapping) else getattr(row, name)
