"""Taking access tokens apart and putting forged ones together, for the token attack tests."""

from __future__ import annotations

import base64
import hmac
import json

Part = dict[str, object]


def b64(data: Part) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def parts(token: str) -> tuple[Part, Part]:
    """The header and the claims of a JWT, unverified."""
    header, payload, _ = token.split(".")

    def decode(text: str) -> Part:
        loaded: Part = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        return loaded

    return decode(header), decode(payload)


def hs256(header: Part, claims: Part, secret: bytes) -> str:
    """A token HMAC-signed with ``secret``: the key-confusion forgery when the secret is the
    server's published public key."""
    signing_input = f"{b64({**header, 'alg': 'HS256'})}.{b64(claims)}"
    mac = hmac.new(secret, signing_input.encode(), "sha256").digest()
    return signing_input + "." + base64.urlsafe_b64encode(mac).decode().rstrip("=")
