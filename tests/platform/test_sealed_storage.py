"""Files sealed with the keyring before they reach the storage: the storage directory holds no
plaintext, and a damaged or misplaced file answers a clean error, the others still readable."""

from __future__ import annotations

from pathlib import Path

import pytest

from carebridge.platform.crypto import Keyring
from carebridge.platform.errors import CareBridgeError
from carebridge.platform.storage import FileMissing, SealedStorage, sealed_storage_for
from tests.factories import files as make
from tests.factories.settings import TEST_SECRET, make_settings


@pytest.fixture
def sealed(tmp_path: Path) -> SealedStorage:
    return sealed_storage_for(make_settings(tmp_path), Keyring(TEST_SECRET))


def stored_bytes(root: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file())


async def test_a_canary_text_is_absent_from_the_storage_directory(
    sealed: SealedStorage, tmp_path: Path
) -> None:
    text = make.text()
    await sealed.put("attachments/a1", text, associated_data=b"a1")
    on_disk = stored_bytes(tmp_path / "files")
    assert len(on_disk) > len(text)  # the file is there, sealed
    assert make.CANARY.encode() not in on_disk
    assert b"canary-4f1d2c" not in on_disk
    assert await sealed.get("attachments/a1", associated_data=b"a1") == text


async def test_a_flipped_bit_is_a_clean_error_and_the_others_stay_readable(
    sealed: SealedStorage, tmp_path: Path
) -> None:
    await sealed.put("attachments/a1", b"first file", associated_data=b"a1")
    await sealed.put("attachments/a2", b"second file", associated_data=b"a2")
    path = tmp_path / "files" / "attachments" / "a1"
    damaged = bytearray(path.read_bytes())
    damaged[len(damaged) // 2] ^= 0x01
    path.write_bytes(bytes(damaged))

    with pytest.raises(CareBridgeError) as caught:
        await sealed.get("attachments/a1", associated_data=b"a1")
    assert (caught.value.status, caught.value.error_code) == (500, "unreadable")
    assert "first file" not in caught.value.detail
    assert await sealed.get("attachments/a2", associated_data=b"a2") == b"second file"


async def test_a_file_opens_only_for_its_owner_and_at_its_place(
    sealed: SealedStorage, tmp_path: Path
) -> None:
    await sealed.put("attachments/a1", b"report", associated_data=b"a1")
    with pytest.raises(CareBridgeError, match="could not be read"):
        await sealed.get("attachments/a1", associated_data=b"a2")
    files = tmp_path / "files" / "attachments"
    (files / "b1").write_bytes((files / "a1").read_bytes())
    with pytest.raises(CareBridgeError, match="could not be read"):
        await sealed.get("attachments/b1", associated_data=b"a1")


async def test_a_file_sealed_under_a_previous_key_still_opens(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    old = sealed_storage_for(settings, Keyring("an-older-key-" + TEST_SECRET))
    await old.put("attachments/a1", b"kept", associated_data=b"a1")
    rotated = Keyring(TEST_SECRET, previous=("an-older-key-" + TEST_SECRET,))
    assert await sealed_storage_for(settings, rotated).get(
        "attachments/a1", associated_data=b"a1"
    ) == (b"kept")


async def test_a_missing_or_deleted_file_is_missing(sealed: SealedStorage) -> None:
    with pytest.raises(FileMissing):
        await sealed.get("attachments/none", associated_data=b"none")
    await sealed.put("attachments/a1", b"x", associated_data=b"a1")
    await sealed.delete("attachments/a1")
    with pytest.raises(FileMissing):
        await sealed.get("attachments/a1", associated_data=b"a1")
