"""The keyring: AES-256-GCM with the key id in each ciphertext; previous keys still open."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from carebridge.config import Settings
from carebridge.platform.crypto import DecryptionError, Keyring
from tests.factories.settings import make_settings

KEY_A = "a-first-encryption-key-0123456789abcdefghij"
KEY_B = "b-second-encryption-key-0123456789abcdefghij"
AAD = b"appointment:7d3c:reason"


def test_round_trip_and_a_fresh_nonce_each_time() -> None:
    keyring = Keyring(KEY_A)
    sealed = keyring.encrypt(b"chest pain since Tuesday", AAD)
    assert keyring.decrypt(sealed, AAD) == b"chest pain since Tuesday"
    assert b"chest pain" not in sealed
    assert keyring.encrypt(b"chest pain since Tuesday", AAD) != sealed
    assert keyring.is_current(sealed)
    assert sealed[3:11] == keyring.current_key_id


def test_every_flipped_bit_is_refused() -> None:
    keyring = Keyring(KEY_A)
    sealed = keyring.encrypt(b"penicillin allergy", AAD)
    for index in range(len(sealed)):
        for bit in (0x01, 0x80):
            damaged = bytearray(sealed)
            damaged[index] ^= bit
            with pytest.raises(DecryptionError):
                keyring.decrypt(bytes(damaged), AAD)


def test_other_associated_data_is_refused() -> None:
    keyring = Keyring(KEY_A)
    sealed = keyring.encrypt(b"penicillin allergy", AAD)
    with pytest.raises(DecryptionError, match="bound to other data"):
        keyring.decrypt(sealed, b"appointment:other:reason")


@pytest.mark.parametrize("ciphertext", [b"", b"cb1", b"plain text, never sealed" * 3])
def test_not_a_ciphertext_is_refused(ciphertext: bytes) -> None:
    with pytest.raises(DecryptionError):
        Keyring(KEY_A).decrypt(ciphertext, AAD)


def test_an_unknown_key_is_refused() -> None:
    sealed = Keyring(KEY_A).encrypt(b"penicillin allergy", AAD)
    with pytest.raises(DecryptionError, match="not in the keyring"):
        Keyring(KEY_B).decrypt(sealed, AAD)


def test_previous_keys_open_but_only_the_current_key_seals() -> None:
    old = Keyring(KEY_A).encrypt(b"sealed last year", AAD)
    rotated = Keyring(KEY_B, (KEY_A,))
    assert rotated.decrypt(old, AAD) == b"sealed last year"
    assert not rotated.is_current(old)
    new = rotated.encrypt(b"sealed today", AAD)
    assert rotated.is_current(new)
    assert Keyring(KEY_B).decrypt(new, AAD) == b"sealed today"
    with pytest.raises(DecryptionError):
        Keyring(KEY_A).decrypt(new, AAD)


def test_from_settings_reads_the_previous_keys(tmp_path: Path) -> None:
    old = Keyring(KEY_A).encrypt(b"sealed last year", AAD)
    settings = make_settings(
        tmp_path, encryption_key=KEY_B, encryption_previous_keys=f" {KEY_A} ,, {'c' * 40}"
    )
    assert settings.encryption_previous_keys == [SecretStr(KEY_A), SecretStr("c" * 40)]
    keyring = Keyring.from_settings(settings)
    assert keyring.decrypt(old, AAD) == b"sealed last year"
    assert keyring.current_key_id == Keyring(KEY_B).current_key_id
    assert KEY_A not in repr(settings)


def test_no_previous_keys_by_default(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, encryption_key=KEY_B)
    assert settings.encryption_previous_keys == []
    with pytest.raises(DecryptionError):
        Keyring.from_settings(settings).decrypt(Keyring(KEY_A).encrypt(b"x", AAD), AAD)


def _production(tmp_path: Path, previous: str) -> Settings:
    return make_settings(
        tmp_path,
        environment="production",
        database_url="postgresql://carebridge@db.internal/carebridge",
        public_base_url="https://care.example.org",
        secret_key="s" * 20 + "Zx9-" + "t" * 20,
        encryption_key=KEY_B,
        encryption_previous_keys=previous,
        password_hash_cost="standard",
    )


def test_production_refuses_a_short_previous_key(tmp_path: Path) -> None:
    assert _production(tmp_path, KEY_A).problems() == []
    assert _production(tmp_path, f"{KEY_A},too-short").problems() == [
        "CAREBRIDGE_ENCRYPTION_PREVIOUS_KEYS: key 2 is too short (9 chars, at least 32)"
    ]


def test_a_keyed_hash_has_its_own_key_per_purpose_and_carries_its_key_id() -> None:
    keyring = Keyring(KEY_A)
    made = keyring.keyed_hash("booking-request", b"reason: chest pain")
    assert made[:8] == keyring.current_key_id
    assert len(made) == 8 + 32
    assert keyring.keyed_hash("booking-request", b"reason: chest pain") == made  # no nonce
    assert keyring.keyed_hash_matches("booking-request", b"reason: chest pain", made)
    assert not keyring.keyed_hash_matches("booking-request", b"reason: back pain", made)
    assert not keyring.keyed_hash_matches("another-purpose", b"reason: chest pain", made)
    assert not keyring.keyed_hash_matches("booking-request", b"reason: chest pain", made[:-1])
    assert not keyring.keyed_hash_matches("booking-request", b"reason: chest pain", None)


def test_a_keyed_hash_verifies_while_its_key_is_in_the_ring() -> None:
    made = Keyring(KEY_A).keyed_hash("booking-request", b"data")
    rotated = Keyring(KEY_B, (KEY_A,))
    assert rotated.keyed_hash_matches("booking-request", b"data", made)
    assert rotated.keyed_hash("booking-request", b"data")[:8] == rotated.current_key_id
    assert not Keyring(KEY_B).keyed_hash_matches("booking-request", b"data", made)
