"""Encryption at rest: AES-256-GCM under a keyring, the key id stored with every ciphertext.

Ciphertext layout: ``b"cb1" | key id (8 bytes) | nonce (12 bytes) | ciphertext + tag``. The
associated data (for example the owning row's id) binds a ciphertext to its place: copied to
another row it no longer decrypts. Keys are derived with HKDF from ``CAREBRIDGE_ENCRYPTION_KEY``
(the current key: it seals) and ``CAREBRIDGE_ENCRYPTION_PREVIOUS_KEYS`` (they only open what they
sealed); a key id is the first 8 bytes of the SHA-256 of the derived key.

Domains declare the columns they seal as :class:`SealedColumn` values (their ``sealed.py``,
listed in ``registry.SEALED_COLUMN_MODULES``), so ``carebridge reencrypt`` can move every value
to the current key after a rotation (see :mod:`carebridge.platform.reencrypt`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from carebridge.config import Settings

_VERSION = b"cb1"
_KEY_ID_SIZE = 8
_NONCE_SIZE = 12


class DecryptionError(Exception):
    """The ciphertext is damaged, was made for other associated data, or its key is unknown."""


def _derive(material: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"carebridge-at-rest-v1")
    return hkdf.derive(material.encode())


class Keyring:
    def __init__(self, current: str, previous: tuple[str, ...] = ()) -> None:
        keys = [_derive(material) for material in (current, *previous)]
        self._current_id = self.key_id(keys[0])
        self._keys = {self.key_id(key): AESGCM(key) for key in keys}

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
