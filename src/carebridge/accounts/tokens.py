"""Access tokens (EdDSA-signed JWTs) and opaque refresh tokens.

Signing keys live in the database (shared by every process), their private halves encrypted with
the platform keyring. Each process caches them. The first key is made once, in a transaction of
its own under an advisory lock, so concurrent first sign-ins (in one process or many) agree on
it and nobody signs with a key that was rolled back. A token whose ``kid`` this process does not
know is looked up by that kid (a key another process made or rotated in since the last load); a
kid that is not there is remembered as unknown for a few seconds, so forged kids cannot hammer
the database.

Each process also remembers the access tokens it has verified, until they expire
(:class:`VerifiedTokens`): a client sends the same token with every request for its lifetime, and
checking its signature again each time cost about 0.4 ms of CPU per request. Only the signature
and claims check is skipped; whether the session is live is checked on every request.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt.algorithms import OKPAlgorithm
from sqlalchemy import ColumnElement, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from carebridge.accounts.models import SigningKey
from carebridge.accounts.sealed import PRIVATE_KEY
from carebridge.config import Settings
from carebridge.platform.crypto import Keyring
from carebridge.platform.db import engine_of
from carebridge.platform.errors import Unauthenticated

ALGORITHM = "EdDSA"
ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 - the JWT "typ" header (RFC 9068)
AUDIENCE = "carebridge-api"
_RELOAD_AT_MOST_EVERY = 5.0
_UNKNOWN_KIDS_KEPT = 1_000
# Taken by whoever makes the first signing key, so that concurrent first sign-ins make one.
_FIRST_KEY_LOCK = "carebridge:first-signing-key"
_REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "sid", "jti", "role"]


class InvalidToken(Unauthenticated):
    code = "invalid_token"
    title = "The access token is not valid"

    def __init__(self, detail: str = "The access token is missing, expired or not valid.") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    role: str
    session_id: uuid.UUID
    token_id: str
    expires_at: datetime


class VerifiedTokens:
    """Access tokens this process has verified, with their claims, until they expire.

    Keyed by the token's exact text, so a token differing in any byte is verified afresh. At
    most ``size`` are kept; the oldest is forgotten first (it is verified again if it comes
    back)."""

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        self._claims: dict[str, tuple[AccessClaims, float]] = {}

    def __len__(self) -> int:
        return len(self._claims)

    def get(self, token: str) -> AccessClaims | None:
        found = self._claims.get(token)
        if found is None:
            return None
        claims, expires = found
        if expires <= time.time():  # as PyJWT: a token is valid while now < exp
            del self._claims[token]
            return None
        return claims

    def add(self, token: str, claims: AccessClaims) -> None:
        if len(self._claims) >= self._size:
            del self._claims[next(iter(self._claims))]  # dicts keep insertion order
        self._claims[token] = (claims, claims.expires_at.timestamp())


def issuer(settings: Settings) -> str:
    return settings.public_base_url


class KeyStore:
    """The signing keys as this process knows them."""

    def __init__(self, settings: Settings, keyring: Keyring | None = None) -> None:
        self.settings = settings
        self.keyring = keyring or Keyring.from_settings(settings)
        self._public: dict[str, Ed25519PublicKey] = {}
        self._unknown: dict[str, float] = {}  # kid -> when it was found missing (monotonic)
        self._signing: tuple[str, Ed25519PrivateKey] | None = None
        self._loaded_at = 0.0
        self.verified = VerifiedTokens()

    def _horizon(self) -> datetime:
        """Keys retired before this signed no token that is still valid."""
        return datetime.now(UTC) - timedelta(seconds=self.settings.access_token_ttl_seconds)

    async def load(self, db: AsyncSession) -> None:
        """Read the keys; make the first one if there is none."""
        rows = await usable_keys(db, self._horizon())
        if not any(row.retired_at is None for row in rows):
            await make_first_key(engine_of(db), self.keyring)
            rows = await usable_keys(db, self._horizon())
        self._public = {row.kid: _public_key(row) for row in rows}
        current = next(row for row in rows if row.retired_at is None)
        raw = self.keyring.open(PRIVATE_KEY, current)
        assert raw is not None  # the column is NOT NULL
        private = serialization.load_der_private_key(raw, password=None)
        assert isinstance(private, Ed25519PrivateKey)
        self._signing = (current.kid, private)
        self._loaded_at = time.monotonic()

    async def signing_key(self, db: AsyncSession) -> tuple[str, Ed25519PrivateKey]:
        if self._signing is None or time.monotonic() - self._loaded_at > 60:
            await self.load(db)
        assert self._signing is not None
        return self._signing

    async def public_key(self, db: AsyncSession, kid: str) -> Ed25519PublicKey | None:
        """The key ``kid`` names, if it is one that may still verify a token: from memory, or
        else from the database (made or rotated in by another process since this one loaded)."""
        key = self._public.get(kid)
        if key is not None:
            return key
        missing_since = self._unknown.get(kid)
        if missing_since is not None and time.monotonic() - missing_since < _RELOAD_AT_MOST_EVERY:
            return None
        row = await db.scalar(
            select(SigningKey).where(SigningKey.kid == kid, _usable(self._horizon()))
        )
        if row is None:
            if len(self._unknown) >= _UNKNOWN_KIDS_KEPT:
                del self._unknown[next(iter(self._unknown))]
            self._unknown[kid] = time.monotonic()
            return None
        self._unknown.pop(kid, None)
        key = self._public[kid] = _public_key(row)
        return key


def _public_key(row: SigningKey) -> Ed25519PublicKey:
    return public_key_of(row.public_jwk)


def public_key_of(jwk: dict[str, Any] | str) -> Ed25519PublicKey:
    """The Ed25519 public key of a ``signing_keys.public_jwk`` (as a dict or its JSON text)."""
    key = OKPAlgorithm.from_jwk(jwk)
    assert isinstance(key, Ed25519PublicKey)
    return key


def _usable(horizon: datetime) -> ColumnElement[bool]:
    """A key that signs (not retired) or that may have signed a token still valid."""
    return (SigningKey.retired_at.is_(None)) | (SigningKey.retired_at > horizon)


async def usable_keys(db: AsyncSession, horizon: datetime) -> list[SigningKey]:
    """The keys that sign or may still verify, newest first."""
    rows = await db.scalars(
        select(SigningKey).where(_usable(horizon)).order_by(SigningKey.created_at.desc())
    )
    return list(rows.all())


async def make_first_key(engine: AsyncEngine, keyring: Keyring) -> None:
    """Make a signing key unless there is a current one, in a transaction of its own (committed
    before anyone signs with it) under an advisory lock: of concurrent first sign-ins, in any
    number of processes, one makes the key and the others find it."""
    async with engine.begin() as connection:
        await connection.execute(
            select(func.pg_advisory_xact_lock(func.hashtextextended(_FIRST_KEY_LOCK, 0)))
        )
        current = await connection.scalar(
            select(func.count()).select_from(SigningKey).where(SigningKey.retired_at.is_(None))
        )
        if not current:
            key = _new_key(keyring)
            values = {"kid": key.kid, "algorithm": key.algorithm, "public_jwk": key.public_jwk}
            await connection.execute(
                insert(SigningKey).values(**values, private_key=key.private_key)
            )


def _new_key(keyring: Keyring) -> SigningKey:
    """A new signing key, not yet added to any session."""
    private = Ed25519PrivateKey.generate()
    kid = secrets.token_urlsafe(12)
    der = private.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_jwk: dict[str, Any] = OKPAlgorithm.to_jwk(private.public_key(), as_dict=True)
    public_jwk.update({"kid": kid, "alg": ALGORITHM, "use": "sig"})
    row = SigningKey(kid=kid, algorithm=ALGORITHM, public_jwk=public_jwk)
    row.private_key = keyring.seal(PRIVATE_KEY, row, der)
    return row


async def create_signing_key(db: AsyncSession, keyring: Keyring) -> SigningKey:
    row = _new_key(keyring)
    db.add(row)
    await db.flush()
    return row


async def rotate_signing_key(db: AsyncSession, keyring: Keyring) -> SigningKey:
    """Retire the current keys (they keep verifying until their tokens expire); add a new one."""
    await db.execute(
        update(SigningKey)
        .where(SigningKey.retired_at.is_(None))
        .values(retired_at=datetime.now(UTC))
    )
    return await create_signing_key(db, keyring)


async def published_keys(db: AsyncSession, settings: Settings) -> list[dict[str, Any]]:
    horizon = datetime.now(UTC) - timedelta(seconds=settings.access_token_ttl_seconds)
    return [dict(row.public_jwk) for row in await usable_keys(db, horizon)]


async def issue_access_token(
    db: AsyncSession, keys: KeyStore, *, user_id: uuid.UUID, role: str, session_id: uuid.UUID
) -> tuple[str, int]:
    kid, private = await keys.signing_key(db)
    now = int(time.time())
    ttl = keys.settings.access_token_ttl_seconds
    claims = {
        "iss": issuer(keys.settings),
        "aud": AUDIENCE,
        "sub": str(user_id),
        "role": role,
        "sid": str(session_id),
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "jti": secrets.token_urlsafe(12),
    }
    headers = {"kid": kid, "typ": ACCESS_TOKEN_TYPE}
    return jwt.encode(claims, private, algorithm=ALGORITHM, headers=headers), ttl


async def verify_access_token(db: AsyncSession, keys: KeyStore, token: str) -> AccessClaims:
    known = keys.verified.get(token)
    if known is not None:
        return known
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise InvalidToken() from exc
    if header.get("typ") != ACCESS_TOKEN_TYPE or header.get("alg") != ALGORITHM:
        raise InvalidToken()
    kid = header.get("kid")
    key = await keys.public_key(db, kid) if isinstance(kid, str) else None
    if key is None:
        raise InvalidToken()
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],  # the allowlist: nothing else is ever accepted
            audience=AUDIENCE,
            issuer=issuer(keys.settings),
            options={"require": _REQUIRED_CLAIMS},
        )
        verified = AccessClaims(
            user_id=uuid.UUID(claims["sub"]),
            role=str(claims["role"]),
            session_id=uuid.UUID(str(claims["sid"])),  # a custom claim: PyJWT checks no type
            token_id=str(claims["jti"]),
            expires_at=datetime.fromtimestamp(claims["exp"], UTC),
        )
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise InvalidToken() from exc
    keys.verified.add(token, verified)
    return verified


MFA_TOKEN_TYPE = "mfa+jwt"  # noqa: S105 - a JWT "typ", not a secret
MFA_AUDIENCE = "carebridge-mfa"
MFA_TOKEN_SECONDS = 300


async def issue_mfa_token(db: AsyncSession, keys: KeyStore, user_id: uuid.UUID) -> str:
    """Proof that the password was right, good only at /auth/mfa/verify for five minutes."""
    kid, private = await keys.signing_key(db)
    now = int(time.time())
    claims = {
        "iss": issuer(keys.settings),
        "aud": MFA_AUDIENCE,
        "sub": str(user_id),
        "iat": now,
        "nbf": now,
        "exp": now + MFA_TOKEN_SECONDS,
        "jti": secrets.token_urlsafe(12),
    }
    headers = {"kid": kid, "typ": MFA_TOKEN_TYPE}
    return jwt.encode(claims, private, algorithm=ALGORITHM, headers=headers)


class InvalidMfaToken(Unauthenticated):
    code = "invalid_mfa_token"
    title = "The sign-in step expired"


async def verify_mfa_token(db: AsyncSession, keys: KeyStore, token: str) -> uuid.UUID:
    try:
        header = jwt.get_unverified_header(token)
        kid = header.get("kid")
        key = await keys.public_key(db, kid) if isinstance(kid, str) else None
        if header.get("typ") != MFA_TOKEN_TYPE or key is None:
            raise InvalidMfaToken("Sign in again: this sign-in step is not valid.")
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=MFA_AUDIENCE,
            issuer=issuer(keys.settings),
            options={"require": ["exp", "iat", "sub", "aud", "iss"]},
        )
        return uuid.UUID(claims["sub"])
    except (jwt.PyJWTError, ValueError) as exc:
        raise InvalidMfaToken("Sign in again: this sign-in step expired or is not valid.") from exc


def new_refresh_token() -> tuple[str, bytes]:
    """A 256-bit opaque token and the hash that is stored."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
