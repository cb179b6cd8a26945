"""Files: one small interface over obstore, a local directory by default, S3-compatible storage
when ``CAREBRIDGE_STORAGE_URL`` is set.

Keys are relative paths (``prescriptions/<id>.pdf``); nothing outside this module knows where the
bytes live. Stores are cached per configuration: obstore keeps a connection pool per store.

Protected health information (attachments) goes through :class:`SealedStorage`: sealed with the
keyring (AES-256-GCM) before it leaves the process, so the storage (a directory, a bucket, its
backups) only ever holds ciphertext.
"""

from __future__ import annotations

import uuid
from functools import cache
from pathlib import Path
from typing import Any

import obstore
import structlog
from obstore.exceptions import NotFoundError
from obstore.store import LocalStore, ObjectStore, S3Store, from_url
from sqlalchemy.ext.asyncio import AsyncSession

from carebridge.config import Settings
from carebridge.platform.crypto import DecryptionError, KeyClass, Keyring, owners_of
from carebridge.platform.errors import CareBridgeError
from carebridge.platform.patient_keys import unlock

log = structlog.get_logger(__name__)


class FileMissing(Exception):
    """No file under this key."""


class Storage:
    def __init__(self, store: ObjectStore, description: str) -> None:
        self._store = store
        self.description = description

    async def put(self, key: str, data: bytes) -> None:
        """Write (or overwrite) ``key``: a reader never sees a partial file. No content type
        is stored (the local store cannot): files are served by our routes, which know it."""
        await obstore.put_async(self._store, key, data)

    async def get(self, key: str) -> bytes:
        try:
            result = await obstore.get_async(self._store, key)
        except (NotFoundError, FileNotFoundError) as exc:
            raise FileMissing(key) from exc
        return bytes(await result.bytes_async())

    async def delete(self, key: str) -> None:
        try:
            await obstore.delete_async(self._store, key)
        except (NotFoundError, FileNotFoundError):
            return


class UnreadableFile(CareBridgeError):
    """A sealed file does not open (damaged, moved to another key or place, or sealed with a
    key no longer in the keyring). Answered like an unreadable sealed column: a 500 that names
    neither the file's content nor why, the reason logged by key."""

    status = 500
    code = "unreadable"
    title = "Stored data could not be read"

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(
            "Stored data could not be read; the operators have been alerted.", keep_changes=True
        )
        self.key = key
        self.reason = reason


class SealedStorage:
    """Files sealed with the keyring on their way to ``storage`` and opened on their way back.

    The associated data a caller gives (an attachment's id, say) and the key the file is
    stored under are both bound to the ciphertext: a file copied to another key, or read for
    another owner, does not open. A patient's file is sealed under the patient's data key of
    its class (``owner``: crypto-shredding, see ``platform/patient_keys.py``); opening it loads
    the key its header names through ``db``.
    """

    def __init__(self, storage: Storage, keyring: Keyring) -> None:
        self._storage = storage
        self._keyring = keyring

    async def put(
        self,
        key: str,
        data: bytes,
        *,
        associated_data: bytes,
        owner: tuple[uuid.UUID, KeyClass] | None = None,
        db: AsyncSession | None = None,
    ) -> None:
        """Seal and store ``data``: under the data key of ``owner`` (patient, class) when given
        (loaded through ``db`` if it is not yet), else under the keyring."""
        aad = _file_aad(key, associated_data)
        if owner is None:
            sealed = self._keyring.encrypt(data, aad)
        else:
            if db is not None:
                await unlock(db, self._keyring, [owner[0]], (owner[1],))
            sealed = self._keyring.encrypt_for(*owner, data, aad)
        await self._storage.put(key, sealed)

    async def get(
        self, key: str, *, associated_data: bytes, db: AsyncSession | None = None
    ) -> bytes:
        """The file's bytes; :class:`FileMissing` when there is none, :class:`UnreadableFile`
        when it does not open (its patient's data key destroyed among the reasons). ``db``
        loads the data key a patient's file names, if not loaded yet."""
        sealed = await self._storage.get(key)
        if db is not None:
            await unlock(db, self._keyring, owners_of([sealed]))
        try:
            return self._keyring.decrypt(sealed, _file_aad(key, associated_data))
        except DecryptionError as exc:
            log.error("sealed_file_unreadable", key=key, reason=str(exc))
            raise UnreadableFile(key, str(exc)) from exc

    async def delete(self, key: str) -> None:
        await self._storage.delete(key)


def _file_aad(key: str, associated_data: bytes) -> bytes:
    return b"carebridge-file:" + key.encode() + b"\x00" + associated_data


def sealed_storage_for(settings: Settings, keyring: Keyring) -> SealedStorage:
    return SealedStorage(storage_for(settings), keyring)


def storage_for(settings: Settings) -> Storage:
    """The storage of these settings (one instance per configuration, per process)."""
    secret = settings.storage_secret_access_key
    return _storage(
        settings.storage_url,
        str(settings.data_dir.resolve() / "files"),
        settings.storage_endpoint,
        settings.storage_region,
        settings.storage_access_key_id,
        None if secret is None else secret.get_secret_value(),
    )


@cache
def _storage(
    url: str | None,
    local_dir: str,
    endpoint: str | None,
    region: str | None,
    access_key_id: str | None,
    secret_access_key: str | None,
) -> Storage:
    if url is None:
        Path(local_dir).mkdir(parents=True, exist_ok=True)
        return Storage(LocalStore(prefix=local_dir), f"local directory {local_dir}")
    if url.startswith(("s3://", "s3a://")):
        config: Any = {
            name: value
            for name, value in (
                ("endpoint", endpoint),
                ("region", region),
                ("access_key_id", access_key_id),
                ("secret_access_key", secret_access_key),
            )
            if value is not None
        }
        # A local MinIO speaks plain HTTP; production endpoints are https.
        plain = endpoint is not None and endpoint.startswith("http://")
        client: Any = {"allow_http": True} if plain else None
        store: ObjectStore = S3Store.from_url(url, config=config, client_options=client)
        return Storage(store, f"S3 {url}")
    # file:///srv/carebridge/files, memory:///: for tests and single-host deployments.
    if url.startswith("file://"):
        return Storage(from_url(url, mkdir=True), url)
    return Storage(from_url(url), url)
