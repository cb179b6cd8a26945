"""Token attacks that only the claims checks stop: tokens signed with the server's own key (as if
the signature were sound) whose audience, issuer, type, key id, lifetime or identity is wrong;
tampered payloads; the published public key used as an HMAC secret; a reused refresh token.

tests/accounts/test_tokens.py forges with an attacker's key, so there the signature alone
refuses most forgeries; here every forgery but the tampered ones carries a valid signature of
the server's current key, so each is refused for its claim and nothing else."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from carebridge.accounts.tokens import MFA_AUDIENCE, KeyStore
from carebridge.config import Settings
from carebridge.platform.db import Database
from tests.factories import PASSWORD, MakeUser, SignIn, TokenFor
from tests.factories.tokens import Part, b64, hs256, parts

ME = "/api/v1/me"
REFRESH = "/api/v1/auth/refresh"


def unpadded(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@dataclass
class Forge:
    """A genuine access token taken apart, and the server's own signing key to sign it again."""

    header: Part
    claims: Part
    signature: str
    key: Ed25519PrivateKey
    jwk: dict[str, str]
    other_sub: str  # another user's id ...
    other_sid: str  # ... and a live session of theirs

    def signed(self, claims: Part | None = None, **header: object) -> str:
        """Signed with the server's key: only what was changed can make it fail. A header
        value of None leaves that header out."""
        fields = {k: v for k, v in {**self.header, **header}.items() if v is not None}
        signing_input = f"{b64(fields)}.{b64(self.claims if claims is None else claims)}"
        return f"{signing_input}.{unpadded(self.key.sign(signing_input.encode()))}"

    def claims_with(self, **changes: object) -> Part:
        """The genuine claims with ``changes``; a value of None removes that claim."""
        return {k: v for k, v in {**self.claims, **changes}.items() if v is not None}

    def kept_signature(self, claims: Part, **header: object) -> str:
        """Header or claims changed, the genuine token's signature kept."""
        return f"{b64({**self.header, **header})}.{b64(claims)}.{self.signature}"

    def unsigned(self, alg: str) -> str:
        return f"{b64({**self.header, 'alg': alg})}.{b64(self.claims)}."

    def public_key(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(raw_key(self.jwk))


def raw_key(jwk: dict[str, str]) -> bytes:
    return base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4))


@pytest.fixture
async def forge(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    token_for: TokenFor,
    database: Database,
    settings: Settings,
) -> Forge:
    mine = (await token_for(await make_user()))["Authorization"].split()[1]
    header, claims = parts(mine)
    async with database.transaction() as db:
        kid, key = await KeyStore(settings).signing_key(db)
    assert header["kid"] == kid  # the key that signed the genuine token
    keys = (await client.get("/.well-known/jwks.json")).json()["keys"]
    other = parts((await token_for(await make_user()))["Authorization"].split()[1])[1]
    return Forge(
        header=header,
        claims=claims,
        signature=mine.split(".")[2],
        key=key,
        jwk=next(k for k in keys if k["kid"] == kid),
        other_sub=str(other["sub"]),
        other_sid=str(other["sid"]),
    )


def pem(forge: Forge) -> bytes:
    return forge.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def der(forge: Forge) -> bytes:
    return forge.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def hour_from_now() -> int:
    return int(time.time()) + 3600


def minute_ago() -> int:
    return int(time.time()) - 60


Attack = Callable[[Forge], str]

# Each is refused with 401 `invalid_token`. Cases test_tokens.py already has (alg none with the
# header otherwise intact, HS256 keyed with the JWK's "x" text, role changed under the kept
# signature, a foreign key under a known kid, a refresh token as access token) are not repeated.
ATTACKS: dict[str, Attack] = {
    # alg: none and its spellings; the genuine signature kept does not rescue it.
    "alg None": lambda f: f.unsigned("None"),
    "alg NONE": lambda f: f.unsigned("NONE"),
    "alg none, genuine signature kept": lambda f: f.kept_signature(f.claims, alg="none"),
    "signature removed": lambda f: f.signed().rsplit(".", 1)[0] + ".",
    # Algorithm confusion: the published public key, in every form, as an HMAC secret.
    "HS256 keyed with the raw public key": lambda f: hs256(f.header, f.claims, raw_key(f.jwk)),
    "HS256 keyed with the PEM public key": lambda f: hs256(f.header, f.claims, pem(f)),
    "HS256 keyed with the DER public key": lambda f: hs256(f.header, f.claims, der(f)),
    "HS256 keyed with the JWK": lambda f: hs256(f.header, f.claims, json.dumps(f.jwk).encode()),
    # Audience and issuer, signed by the server.
    "wrong aud": lambda f: f.signed(f.claims_with(aud="someone-else")),
    "aud of the MFA step": lambda f: f.signed(f.claims_with(aud=MFA_AUDIENCE)),
    "aud missing": lambda f: f.signed(f.claims_with(aud=None)),
    "wrong iss": lambda f: f.signed(f.claims_with(iss="https://evil.example")),
    "iss with a trailing slash": lambda f: f.signed(f.claims_with(iss=f"{f.claims['iss']}/")),
    "iss missing": lambda f: f.signed(f.claims_with(iss=None)),
    # Type: what is not an access token is not one, whatever its signature.
    "typ JWT": lambda f: f.signed(typ="JWT"),
    "typ of the MFA step": lambda f: f.signed(typ="mfa+jwt"),
    "typ missing": lambda f: f.signed(typ=None),
    # Key ids: the server's signature under a kid it does not have, or none.
    "unknown kid": lambda f: f.signed(kid="no-such-key"),
    "kid missing": lambda f: f.signed(kid=None),
    "kid a number": lambda f: f.signed(kid=7),
    "kid as SQL": lambda f: f.signed(kid="' OR '1'='1"),
    # Time.
    "expired": lambda f: f.signed(f.claims_with(exp=minute_ago())),
    "not valid yet": lambda f: f.signed(f.claims_with(nbf=hour_from_now())),
    "exp missing": lambda f: f.signed(f.claims_with(exp=None)),
    "iat missing": lambda f: f.signed(f.claims_with(iat=None)),
    # Identity claims: missing, malformed, or naming someone else.
    "sub missing": lambda f: f.signed(f.claims_with(sub=None)),
    "sid missing": lambda f: f.signed(f.claims_with(sid=None)),
    "jti missing": lambda f: f.signed(f.claims_with(jti=None)),
    "role missing": lambda f: f.signed(f.claims_with(role=None)),
    "sub not a uuid": lambda f: f.signed(f.claims_with(sub="admin")),
    "sid not a uuid": lambda f: f.signed(f.claims_with(sid=["x"])),
    "sub of another user with one's own session": lambda f: f.signed(
        f.claims_with(sub=f.other_sub)
    ),
    "one's own sub with another user's session": lambda f: f.signed(f.claims_with(sid=f.other_sid)),
    # Tampered payloads under the genuine signature.
    "sub changed, signature kept": lambda f: f.kept_signature(f.claims_with(sub=f.other_sub)),
    "sid changed, signature kept": lambda f: f.kept_signature(f.claims_with(sid=f.other_sid)),
    "exp extended, signature kept": lambda f: f.kept_signature(f.claims_with(exp=hour_from_now())),
    "kid changed, signature kept": lambda f: f.kept_signature(f.claims, kid="no-such-key"),
}


async def test_the_forge_signs_as_the_server_does(client: httpx.AsyncClient, forge: Forge) -> None:
    """The control: re-signed unchanged, or for another user's own session, the token works; so
    each attack below fails for what it changed, not for how it was made."""
    response = await client.get(ME, headers={"Authorization": f"Bearer {forge.signed()}"})
    assert response.status_code == 200
    theirs = forge.signed(forge.claims_with(sub=forge.other_sub, sid=forge.other_sid))
    response = await client.get(ME, headers={"Authorization": f"Bearer {theirs}"})
    assert (response.status_code, response.json()["id"]) == (200, forge.other_sub)


async def test_every_attack_is_refused(client: httpx.AsyncClient, forge: Forge) -> None:
    expected = (401, "invalid_token", 'Bearer error="invalid_token"')
    answers = {}
    for name, attack in ATTACKS.items():
        response = await client.get(ME, headers={"Authorization": f"Bearer {attack(forge)}"})
        code = response.json().get("code")
        answers[name] = (response.status_code, code, response.headers.get("www-authenticate"))
    assert {name: got for name, got in answers.items() if got != expected} == {}
    assert len(answers) == len(ATTACKS) == 37


async def test_the_role_claim_grants_nothing(client: httpx.AsyncClient, forge: Forge) -> None:
    """Even under a valid signature, the role is the account's, read on every request."""
    headers = {"Authorization": f"Bearer {forge.signed(forge.claims_with(role='admin'))}"}
    assert (await client.get(ME, headers=headers)).json()["role"] == "patient"
    response = await client.get("/api/v1/admin/users", headers=headers)
    assert (response.status_code, response.json()["code"]) == (403, "wrong_role")


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(REFRESH, json={"refresh_token": token})


async def test_a_reused_refresh_token_ends_its_family_and_only_it(
    client: httpx.AsyncClient, sign_in: SignIn
) -> None:
    """tests/accounts/test_sessions.py has the family ending; this adds the codes, access
    tokens already in use (remembered as verified) stopping too, and the user's other session
    going on."""
    me = await sign_in()
    login = await client.post("/api/v1/auth/login", json={"email": me.email, "password": PASSWORD})
    other_device = login.json()
    rotated = (await refresh(client, me.refresh_token)).json()
    in_use = [me.access_token, rotated["access_token"]]
    for access in in_use:  # in use: this process now remembers them as verified
        response = await client.get(ME, headers={"Authorization": f"Bearer {access}"})
        assert response.status_code == 200

    reused = await refresh(client, me.refresh_token)
    assert (reused.status_code, reused.json()["code"]) == (401, "refresh_token_reused")
    newest = await refresh(client, rotated["refresh_token"])
    assert (newest.status_code, newest.json()["code"]) == (401, "invalid_refresh_token")
    for access in in_use:
        response = await client.get(ME, headers={"Authorization": f"Bearer {access}"})
        assert (response.status_code, response.json()["code"]) == (401, "invalid_token")

    other = {"Authorization": f"Bearer {other_device['access_token']}"}
    assert (await client.get(ME, headers=other)).status_code == 200
    assert (await refresh(client, other_device["refresh_token"])).status_code == 200


async def test_a_malformed_claim_in_a_signed_mfa_token_is_refused(
    client: httpx.AsyncClient, forge: Forge
) -> None:
    """The second sign-in step refuses a signed token whose subject is not a user id."""
    now = int(time.time())
    step = {"iss": forge.claims["iss"], "aud": MFA_AUDIENCE, "iat": now, "exp": now + 60}
    for sub in (["x"], 7, "not-a-uuid"):
        token = forge.signed({**step, "sub": sub}, typ="mfa+jwt")
        response = await client.post(
            "/api/v1/auth/mfa/verify", json={"mfa_token": token, "code": "123456"}
        )
        assert (response.status_code, response.json()["code"]) == (401, "invalid_mfa_token"), sub
