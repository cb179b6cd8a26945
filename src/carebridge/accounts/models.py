"""Tables of the accounts domain."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, LargeBinary, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from carebridge.platform.models import Base, Model


class Role(StrEnum):
    patient = "patient"
    doctor = "doctor"
    nurse = "nurse"
    admin = "admin"


STAFF_ROLES = frozenset({Role.doctor, Role.nurse, Role.admin})
CLINICIAN_ROLES = frozenset({Role.doctor, Role.nurse})


class UserStatus(StrEnum):
    pending = "pending"  # a clinician waiting for admin approval
    active = "active"
    disabled = "disabled"


def _one_of(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class User(Model):
    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(320), unique=True)  # stored lower-cased
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    password_changed_at: Mapped[datetime] = mapped_column(server_default=func.now())
    email_verified_at: Mapped[datetime | None]
    approved_at: Mapped[datetime | None]
    phone: Mapped[str | None] = mapped_column(String(20))
    time_zone: Mapped[str] = mapped_column(String(64), server_default="UTC")
    locale: Mapped[str] = mapped_column(String(16), server_default="en")
    failed_logins: Mapped[int] = mapped_column(server_default="0")
    locked_until: Mapped[datetime | None]
    # TOTP: the secret encrypted with the keyring (user id as associated data); set at setup,
    # in force once mfa_enabled_at is set. totp_last_step refuses a code's replay.
    totp_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    mfa_enabled_at: Mapped[datetime | None]
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    # How many passkeys the user has (``passkeys`` rows), kept by ``accounts.passkeys`` with the
    # user's row locked: the session check of every request reads it without another query.
    passkey_count: Mapped[int] = mapped_column(server_default="0")

    @property
    def mfa_enabled(self) -> bool:
        return self.mfa_enabled_at is not None

    __table_args__ = (
        CheckConstraint(_one_of("role", Role), name="role"),
        CheckConstraint(_one_of("status", UserStatus), name="status"),
        CheckConstraint("email = lower(email)", name="email_lower"),
        # A name shows everywhere (admin tables, notices, the directory): never only blanks.
        CheckConstraint(r"name ~ '\S'", name="name_not_blank"),
        CheckConstraint("passkey_count >= 0", name="passkey_count_not_negative"),
    )


class AuthSession(Model):
    """A signed-in device. Its refresh tokens form one family, rotated on every use."""

    __tablename__ = "auth_sessions"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    user_agent: Mapped[str | None] = mapped_column(String(400))
    ip: Mapped[str | None] = mapped_column(String(64))
    last_used_at: Mapped[datetime] = mapped_column(server_default=func.now())
    idle_expires_at: Mapped[datetime]
    absolute_expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(40))
    # A browser session: the SHA-256 of its cookie (web sessions have no refresh tokens).
    cookie_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), unique=True)


class KnownDevice(Model):
    """A kind of device a user has signed in from, to tell a new one: only a keyed hash of its
    client (browser or app), browser, operating system and model, never the user agent itself
    (``accounts.devices``). ``created_at`` is when it was first seen."""

    __tablename__ = "known_devices"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    device_hash: Mapped[bytes] = mapped_column(LargeBinary(40))
    last_seen_at: Mapped[datetime]


class RefreshToken(Model):
    __tablename__ = "refresh_tokens"

    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("auth_sessions.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    rotated_at: Mapped[datetime | None]


class SigningKey(Model):
    """A key that signs access tokens. Retired keys keep verifying until their tokens expire."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), unique=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    private_key: Mapped[bytes] = mapped_column(LargeBinary)  # encrypted, kid as associated data
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSONB)
    retired_at: Mapped[datetime | None]


class TokenPurpose(StrEnum):
    verify_email = "verify_email"
    reset_password = "reset_password"  # noqa: S105 - a purpose, not a secret
    change_email = "change_email"


class OneTimeToken(Model):
    """A link sent by email: single use, stored hashed, expiring."""

    __tablename__ = "one_time_tokens"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]
    new_email: Mapped[str | None] = mapped_column(String(320))

    __table_args__ = (CheckConstraint(_one_of("purpose", TokenPurpose), name="purpose"),)


class RealtimeTicket(Base):
    """A one-time pass to open the WebSocket: 30 seconds, single use, stored hashed, and bound to
    the session that asked for it (revoking the session closes the socket)."""

    __tablename__ = "realtime_tickets"

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("auth_sessions.id", ondelete="CASCADE"), index=True
    )
    expires_at: Mapped[datetime] = mapped_column(index=True)


class RecoveryCode(Model):
    """Single-use codes that stand in for the authenticator app; stored as keyed hashes."""

    __tablename__ = "recovery_codes"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    used_at: Mapped[datetime | None]


class ApiKey(Model):
    """A credential for an external system: scoped, shown once, stored hashed, revocable."""

    __tablename__ = "api_keys"

    name: Mapped[str] = mapped_column(String(120))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    scopes: Mapped[list[str]] = mapped_column(JSONB)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    last_used_at: Mapped[datetime | None]
    last_used_ip: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    __table_args__ = (CheckConstraint(r"name ~ '\S'", name="name_not_blank"),)


class Passkey(Model):
    """A WebAuthn credential of a user (``accounts.passkeys``): signs them in alone or as the
    second step. Nothing here is secret: the public key verifies, the private key never leaves
    the authenticator. ``sign_count`` is the authenticator's counter, which only rises on a real
    authenticator; a response whose counter does not rise is refused (a copied key)."""

    __tablename__ = "passkeys"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    credential_id: Mapped[bytes] = mapped_column(LargeBinary(1023), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(BigInteger, server_default="0")
    name: Mapped[str] = mapped_column(String(80))
    transports: Mapped[list[str]] = mapped_column(JSONB, server_default="[]")
    # Synced to the person's other devices by their platform (a multi-device passkey).
    backed_up: Mapped[bool] = mapped_column(server_default="false")
    last_used_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint(r"name ~ '\S'", name="name_not_blank"),
        CheckConstraint("sign_count >= 0", name="sign_count_not_negative"),
    )


class PasskeyCeremony(StrEnum):
    register = "register"  # adding a passkey, after the password was proven
    sign_in = "sign_in"  # signing in with a passkey alone
    second_step = "second_step"  # a passkey after the password


class PasskeyChallenge(Base):
    """A challenge handed to the browser for one passkey ceremony: random, stored hashed,
    five minutes, used once (taken by the response that signs it)."""

    __tablename__ = "passkey_challenges"

    challenge_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    ceremony: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    expires_at: Mapped[datetime] = mapped_column(index=True)

    __table_args__ = (CheckConstraint(_one_of("ceremony", PasskeyCeremony), name="ceremony"),)
