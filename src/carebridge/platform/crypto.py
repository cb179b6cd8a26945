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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
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
_KEY_ID_SIZE = 8
_NONCE_SIZE = 12


class DecryptionError(Exception):
    """The ciphertext is damaged, was made for other associated data, or its key is unknown."""


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
    def __init__(self, current: str, previous: tuple[str, ...] = ()) -> None:
        materials = (current, *previous)
        keys = [_derive(material) for material in materials]
        self._current_id = self.key_id(keys[0])
        self._keys = {self.key_id(key): AESGCM(key) for key in keys}
        self._materials = {self.key_id(key): m for key, m in zip(keys, materials, strict=True)}
        self._hash_keys: dict[tuple[bytes, str], bytes] = {}

    @staticmethod
    def key_id(key: bytes) -> bytes:
        return hashlib.sha256(key).digest()[:_KEY_ID_SIZE]

    @classmethod
    def from_settings(cls, settings: Settings) -> Keyring:
        previous = tuple(key.get_secret_value() for key in settings.encryption_previous_keys)
        return cls(settings.secret("encryption_key"), previous)

    @property
    def current_key_id(self) -> bytes:
        return self._current_id

    def is_current(self, ciphertext: bytes) -> bool:
        """Whether ``ciphertext`` claims the current key (its header only: nothing is verified)."""
        return ciphertext.startswith(_VERSION + self._current_id)

    def encrypt(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(_NONCE_SIZE)
        sealed = self._keys[self._current_id].encrypt(nonce, plaintext, aad)
        return _VERSION + self._current_id + nonce + sealed

    @overload
    def seal(self, column: SealedColumn, row: Row, plaintext: bytes | str) -> bytes: ...
    @overload
    def seal(self, column: SealedColumn, row: Row, plaintext: None) -> None: ...
    @overload
    def seal(
        self, column: SealedColumn, row: Row, plaintext: bytes | str | None
    ) -> bytes | None: ...
    def seal(self, column: SealedColumn, row: Row, plaintext: bytes | str | None) -> bytes | None:
        """``plaintext`` sealed for ``column`` of ``row`` (None stays None)."""
        if plaintext is None:
            return None
        data = plaintext.encode() if isinstance(plaintext, str) else plaintext
        return self.encrypt(data, column.aad(row))

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


@dataclass(frozen=True)
class SealedColumn:
    """A column holding keyring ciphertexts, declared by the domain that owns the table.

    ``associated_data`` rebuilds the associated data a value was sealed with from its row: it
    gets a mapping with the ``key`` columns (the primary key, walked in order) and the ``reads``
    columns (others it needs, such as a signing key's ``kid``).
    """

    table: str
    column: str
    associated_data: Callable[[Mapping[str, Any]], bytes]
    key: tuple[str, ...] = ("id",)
    reads: tuple[str, ...] = ()

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
