"""Files: one small interface over obstore, a local directory by default, S3-compatible storage
when ``CAREBRIDGE_STORAGE_URL`` is set.

Keys are relative paths (``prescriptions/<id>.pdf``); nothing outside this module knows where the
bytes live. Stores are cached per configuration: obstore keeps a connection pool per store.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import obstore
from obstore.exceptions import NotFoundError
from obstore.store import LocalStore, ObjectStore, S3Store, from_url

from carebridge.config import Settings


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
