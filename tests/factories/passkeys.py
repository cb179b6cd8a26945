"""A software authenticator for the API tests of passkeys: it answers registration and sign-in
options as a browser's ``navigator.credentials.create()`` / ``.get()`` would (``toJSON()``
form), signing with a real P-256 key, so the server's checks run on genuine WebAuthn data. The
browser tests use Chromium's own virtual authenticator instead (``tests/e2e/test_passkeys.py``).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

import cbor2
import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from carebridge.config import Settings
from tests.factories.users import PASSWORD

UP, UV, AT = 0x01, 0x04, 0x40  # authenticator data flags: user present, verified, attested data


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class SoftKey:
    """One passkey on a software authenticator. ``counting`` authenticators raise their counter
    on every use (a copy made with :meth:`clone` does too, from where the original was); others
    always report 0, as synced passkeys do."""

    origin: str
    counting: bool = True
    verifies_user: bool = True
    credential_id: bytes = field(default_factory=lambda: secrets.token_bytes(16))
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    sign_count: int = 0
    user_handle: bytes = b""
    rp_id: str = ""

    def clone(self) -> SoftKey:
        """The same key and counter on another device (what a copied key is)."""
        twin = copy.copy(self)
        return twin

    def _public_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,
                3: -7,
                -1: 1,
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )

    def _authenticator_data(self, flags: int, attested: bytes = b"") -> bytes:
        rp_hash = hashlib.sha256(self.rp_id.encode()).digest()
        return rp_hash + bytes([flags]) + self.sign_count.to_bytes(4, "big") + attested

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        data = {"type": kind, "challenge": challenge, "origin": origin or self.origin}
        return json.dumps({**data, "crossOrigin": False}).encode()

    def _flags(self) -> int:
        return UP | (UV if self.verifies_user else 0)

    def create(self, options: dict[str, Any]) -> dict[str, Any]:
        """The answer to registration options (``PasskeyOptions.options``)."""
        self.rp_id = options["rp"]["id"]
        self.user_handle = unb64(options["user"]["id"])
        client_data = self._client_data("webauthn.create", options["challenge"], None)
        attested = (
            bytes(16) + len(self.credential_id).to_bytes(2, "big") + self.credential_id
        ) + self._public_key()
        auth_data = self._authenticator_data(self._flags() | AT, attested)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": b64(self.credential_id),
            "rawId": b64(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(client_data),
                "attestationObject": b64(attestation),
                "transports": ["internal"],
            },
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        }

    def get(self, options: dict[str, Any], *, origin: str | None = None) -> dict[str, Any]:
        """The answer to sign-in or second-step options, signed with the key (``origin``: the
        page's origin as the browser would report it, if not the real one)."""
        if self.counting:
            self.sign_count += 1
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        auth_data = self._authenticator_data(self._flags())
        signature = self.key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return {
            "id": b64(self.credential_id),
            "rawId": b64(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(client_data),
                "authenticatorData": b64(auth_data),
                "signature": b64(signature),
                "userHandle": b64(self.user_handle),
            },
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        }


def public_origin() -> str:
    """The origin of the tests' CareBridge (the settings' default public URL)."""
    return str(Settings.model_fields["public_base_url"].default)


async def registered(
    client: httpx.AsyncClient, headers: dict[str, str], name: str = "Laptop"
) -> tuple[SoftKey, str]:
    """A passkey added to the account of ``headers`` as the account page adds one (the password
    first): the authenticator's key and the passkey's id."""
    key = SoftKey(public_origin())
    added = await client.post(
        "/api/v1/auth/passkeys",
        json=await registration_answer(client, headers, key, name),
        headers=headers,
    )
    assert added.status_code == 201, added.text
    return key, str(added.json()["passkey"]["id"])


async def registration_answer(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    key: SoftKey | None = None,
    name: str = "Laptop",
) -> dict[str, Any]:
    """A valid body of ``POST /api/v1/auth/passkeys`` (not sent): the password given, ``key``
    (a new one by default) answers the registration options."""
    options = await client.post(
        "/api/v1/auth/passkeys/registration-options", json={"password": PASSWORD}, headers=headers
    )
    assert options.status_code == 200, options.text
    key = key or SoftKey(public_origin())
    return {"name": name, "credential": key.create(options.json()["options"])}


async def sign_in_answer(client: httpx.AsyncClient, key: SoftKey) -> dict[str, Any]:
    """``key``'s answer to fresh options to sign in with a passkey alone."""
    options = await client.post("/api/v1/auth/passkeys/sign-in-options", json={})
    assert options.status_code == 200, options.text
    return key.get(options.json()["options"])
