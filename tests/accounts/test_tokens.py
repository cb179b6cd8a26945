"""Access tokens: every forgery is a 401; keys rotate without logging anyone out."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
import time_machine
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from carebridge.accounts.tokens import (
    AUDIENCE,
    AccessClaims,
    InvalidToken,
    VerifiedTokens,
    rotate_signing_key,
    verify_access_token,
)
from carebridge.config import Settings
from carebridge.platform.crypto import Keyring
from carebridge.platform.db import Database
from tests.factories import SignedIn, SignIn
from tests.factories.tokens import b64, hs256, parts

ME = "/api/v1/me"


def hs256_with_public_key(
    header: dict[str, object], claims: dict[str, object], public: dict[str, str]
) -> str:
    """The classic key-confusion forgery: HMAC-signed with the published public key."""
    return hs256(header, claims, public["x"].encode())


async def jwks_key(client: httpx.AsyncClient, kid: str) -> dict[str, str]:
    keys = (await client.get("/.well-known/jwks.json")).json()["keys"]
    return next(k for k in keys if k["kid"] == kid)


@pytest.fixture
async def me(sign_in: SignIn) -> SignedIn:
    return await sign_in()


async def test_a_valid_token_works(client: httpx.AsyncClient, me: SignedIn) -> None:
    assert (await client.get(ME, headers=me.headers)).status_code == 200
    header, claims = parts(me.access_token)
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "EdDSA"
    assert {"iss", "aud", "sub", "role", "sid", "iat", "exp", "jti"} <= set(claims)


async def test_forged_tokens_all_get_401(
    client: httpx.AsyncClient, me: SignedIn, settings: Settings
) -> None:
    header, claims = parts(me.access_token)
    signature = me.access_token.split(".")[2]
    public = await jwks_key(client, str(header["kid"]))
    now = int(time.time())
    attacker = Ed25519PrivateKey.generate()

    def signed(payload: dict[str, object], **headers: object) -> str:
        return jwt.encode(payload, attacker, algorithm="EdDSA", headers={**header, **headers})

    forgeries = {
        "none": f"{b64({**header, 'alg': 'none'})}.{b64(claims)}.",
        "hs256 with the public key as secret": hs256_with_public_key(header, claims, public),
        "tampered payload": f"{b64(header)}.{b64({**claims, 'role': 'admin'})}.{signature}",
        "other key, same kid": signed(claims),
        "expired": signed({**claims, "exp": now - 10, "iat": now - 1000}),
        "not yet valid": signed({**claims, "nbf": now + 600}),
        "wrong audience": signed({**claims, "aud": "someone-else"}),
        "wrong issuer": signed({**claims, "iss": "https://evil.example"}),
        "wrong typ": jwt.encode(
            claims, attacker, algorithm="EdDSA", headers={"kid": header["kid"], "typ": "JWT"}
        ),
        "unknown kid": signed(claims, kid="no-such-key"),
        "refresh token as access token": me.refresh_token,
        "garbage": "not.a.jwt",
    }
    for name, token in forgeries.items():
        response = await client.get(ME, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, name
        assert response.json()["code"] == "invalid_token", name
    no_header = await client.get(ME)
    assert no_header.status_code == 401
    # Sanity: the attacker's tokens fail for the key, not for their shape.
    assert jwt.decode(
        forgeries["expired"],
        attacker.public_key(),
        algorithms=["EdDSA"],
        audience=AUDIENCE,
        options={"verify_exp": False},
    )


async def test_unknown_kid_does_not_reload_keys_on_every_request(
    client: httpx.AsyncClient, me: SignedIn, app: object
) -> None:
    store = app.state.key_store  # type: ignore[attr-defined]
    loaded_at = store._loaded_at
    header, claims = parts(me.access_token)
    for i in range(5):
        token = f"{b64({**header, 'kid': f'made-up-{i}'})}.{b64(claims)}.x"
        assert (
            await client.get(ME, headers={"Authorization": f"Bearer {token}"})
        ).status_code == 401
    assert store._loaded_at == loaded_at  # loaded moments ago: no reload for forged kids


async def test_key_rotation_keeps_old_tokens_valid_and_signs_with_the_new_key(
    client: httpx.AsyncClient, sign_in: SignIn, database: Database, settings: Settings, app: object
) -> None:
    before = await sign_in()
    old_kid = parts(before.access_token)[0]["kid"]
    async with database.transaction() as db:
        new_key = await rotate_signing_key(db, Keyring.from_settings(settings))
    app.state.key_store._loaded_at = 0  # type: ignore[attr-defined]  # as after the cache period
    after = await sign_in()
    assert parts(after.access_token)[0]["kid"] == new_key.kid != old_kid
    assert (await client.get(ME, headers=before.headers)).status_code == 200
    assert (await client.get(ME, headers=after.headers)).status_code == 200
    kids = {k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]}
    assert {old_kid, new_key.kid} <= kids
    for key in (await client.get("/.well-known/jwks.json")).json()["keys"]:
        assert "d" not in key  # never the private part


async def test_a_verified_token_is_remembered_only_until_it_expires(
    client: httpx.AsyncClient, me: SignedIn, app: object, database: Database, settings: Settings
) -> None:
    assert (await client.get(ME, headers=me.headers)).status_code == 200
    keys = app.state.key_store  # type: ignore[attr-defined]
    remembered = keys.verified.get(me.access_token)
    assert remembered is not None
    assert remembered.user_id == me.user_id
    async with database.transaction() as db:
        # The same token again: the claims verified before, not a second signature check.
        assert await verify_access_token(db, keys, me.access_token) is remembered
        # A token differing in one byte of its signature is checked afresh, and fails.
        head, body, signature = me.access_token.split(".")
        flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
        with pytest.raises(InvalidToken):
            await verify_access_token(db, keys, f"{head}.{body}.{flipped}")
        expiry = parts(me.access_token)[1]["exp"]
        assert isinstance(expiry, int)
        after_expiry = datetime.fromtimestamp(expiry + 1, UTC)
        with time_machine.travel(after_expiry, tick=False), pytest.raises(InvalidToken):
            await verify_access_token(db, keys, me.access_token)
    assert keys.verified.get(me.access_token) is None


def test_remembered_tokens_are_bounded_oldest_first() -> None:
    tokens = VerifiedTokens(size=2)
    later = datetime.now(UTC) + timedelta(minutes=5)

    def claims() -> AccessClaims:
        return AccessClaims(uuid.uuid4(), "patient", uuid.uuid4(), "jti", later)

    for token in ("first", "second", "third"):
        tokens.add(token, claims())
    assert len(tokens) == 2
    assert tokens.get("first") is None
    assert tokens.get("second") is not None
    assert tokens.get("third") is not None


def test_private_keys_are_encrypted_at_rest(settings: Settings) -> None:
    keyring = Keyring.from_settings(settings)
    der = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    sealed = keyring.encrypt(der, b"kid-1")
    assert der not in sealed
    assert keyring.decrypt(sealed, b"kid-1") == der
    from carebridge.platform.crypto import DecryptionError

    with pytest.raises(DecryptionError):
        keyring.decrypt(sealed, b"kid-2")
    flipped = bytearray(sealed)
    flipped[-1] ^= 1
    with pytest.raises(DecryptionError):
        keyring.decrypt(bytes(flipped), b"kid-1")
